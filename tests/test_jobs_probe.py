"""Probe jobs and worker processes for the job tests (no tests of its own).

`run.py worker --import tests.test_jobs_probe` registers the same probes in the worker, as
a capability's module registers its jobs.  Each probe leaves an AuditLog row with the pid
of the process that ran it, so a test can tell which worker did what and how often.
"""
import os
import time

import jobs
from harness.workers import FIELD_KEY, READY, ROOT, kill  # noqa: F401 (the job tests import them from here)
from harness.workers import workers as harness_workers
from models import AuditLog


def probe():
    time.sleep(float(os.environ.get("JOB_PROBE_SLEEP", "0.05")))
    AuditLog.create(username="jobprobe", action="jobprobe", record_id=str(os.getpid()))


def fails():
    raise RuntimeError("探针失败")


def tick():
    AuditLog.create(username="jobtick", action="jobtick", record_id=str(os.getpid()))


jobs.register("test-probe", probe, "0 0 1 1 *", enabled=False, description="测试探针：记录执行进程")
jobs.register("test-fails", fails, "0 0 1 1 *", enabled=False, description="测试探针：总是失败")
if os.environ.get("JOB_PROBE_TICK") == "1":  # only in the workers a test starts
    jobs.register("test-tick", tick, "* * * * *", description="测试探针：每分钟")


def workers(tmp_path, database_url, queue_url, module="tests.test_jobs_probe", **options):
    """harness.workers.workers importing this module's probes by default."""
    return harness_workers(tmp_path, database_url, queue_url, module=module, **options)


def wait_finished(run_ids, timeout=30):
    """The JobRuns `run_ids` once none is queued or running (fails after `timeout` seconds)."""
    from models import JobRun

    deadline = time.monotonic() + timeout
    while True:
        runs = list(JobRun.select().where(JobRun.id.in_(list(run_ids))).order_by(JobRun.id))
        if len(runs) == len(run_ids) and all(run.status in ("success", "failed") for run in runs):
            return runs
        assert time.monotonic() < deadline, f"runs not finished after {timeout} s: " + ", ".join(
            f"#{run.id} {run.status}" for run in runs)
        time.sleep(0.05)
