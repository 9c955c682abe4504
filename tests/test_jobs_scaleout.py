"""Scale out: two `run.py worker` processes share one real Redis (QUEUE_URL=redis://...).

Every queued run is taken by exactly one worker, both workers take part, and a periodic
job that both workers' schedulers enqueue for the same minute runs once.  Redis is
Debian's redis-server, started here on a free loopback port without persistence; the test
fails (never skips) when it is missing, since scaling out is a promise of the product.
"""
import pytest

import jobs
from bench.redis_server import redis_server
from models import AuditLog, JobRun
from tests import test_jobs_probe as probes
from tests.conftest import database_url

RUNS = 10


@pytest.fixture
def redis_url(tmp_path):
    # The benchmark's throwaway server: Debian's binary, free loopback port, no persistence.
    # A missing binary is a RuntimeError, so the test fails rather than skips.
    try:
        with redis_server(tmp_path / "redis") as url:
            yield url
    finally:
        jobs.queue.configure(None)


def test_two_workers_share_the_redis_queue_and_each_run_happens_once(app, tmp_path, redis_url):
    app.config["QUEUE_URL"] = redis_url
    jobs.configure(app.config)
    # Each probe sleeps a little, so one worker cannot drain the queue before the other asks.
    with probes.workers(tmp_path, database_url(tmp_path), redis_url, count=2, threads=1, JOB_PROBE_SLEEP="0.2",
                        JOB_PROBE_TICK="1") as processes:
        queued = [jobs.run_now("test-probe", username="admin").id for _ in range(RUNS)]
        runs = probes.wait_finished(queued)
        ticks = list(JobRun.select().where(JobRun.job == "test-tick"))  # enqueued by both schedulers at start
        probes.wait_finished([run.id for run in ticks])
    pids = {str(process.pid) for process in processes}
    assert [run.status for run in runs] == ["success"] * RUNS
    ran_in = [row.record_id for row in AuditLog.select().where(AuditLog.action == "jobprobe")]
    assert len(ran_in) == RUNS  # none lost, none twice
    assert set(ran_in) == pids, f"both workers should take part: {sorted(ran_in)} vs {sorted(pids)}"
    assert sorted(run.worker.split(":")[1] for run in runs) == sorted(ran_in)
    # The periodic job: one run per minute slot although two schedulers enqueued it.
    assert ticks and len({run.slot for run in ticks}) == len(ticks)
    assert AuditLog.select().where(AuditLog.action == "jobtick").count() == len(ticks)
