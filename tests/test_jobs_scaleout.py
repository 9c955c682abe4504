"""Scale out: two `run.py worker` processes share one real Redis (QUEUE_URL=redis://...).

Every queued run is taken by exactly one worker, both workers take part, and a periodic
job that both workers' schedulers enqueue for the same minute runs once.  Redis is
Debian's redis-server, started here on a free loopback port without persistence; the test
fails (never skips) when it is missing, since scaling out is a promise of the product.
"""
import shutil
import socket
import subprocess
import time

import pytest
import redis

import jobs
from models import AuditLog, JobRun
from tests import test_jobs_probe as probes
from tests.conftest import database_url

RUNS = 10


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if server is None:
        pytest.fail("redis-server is not installed; the scale-out test needs it: apt-get install redis-server")
    port = _free_port()
    data = tmp_path / "redis"
    data.mkdir()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None, f"redis-server exited with {process.returncode}"
                assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        jobs.queue.configure(None)
        process.terminate()
        process.wait(timeout=10)


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
