"""Probe jobs and worker processes for the job tests (no tests of its own).

`run.py worker --import tests.test_jobs_probe` registers the same probes in the worker, as
a capability's module registers its jobs.  Each probe leaves an AuditLog row with the pid
of the process that ran it, so a test can tell which worker did what and how often.
"""
import base64
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import jobs
from models import AuditLog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELD_KEY = base64.b64encode(b"k" * 32).decode()  # as tests/conftest.py
READY = "Huey consumer started"


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


@contextmanager
def workers(tmp_path, database_url, queue_url, count=1, threads=1, name="worker", module="tests.test_jobs_probe",
            own_group=False, stop_timeout=15, **env):
    """Start `count` real `run.py worker` processes importing `module`; stop them gracefully
    (SIGINT) on exit.  With own_group each worker leads its own process group, so a test can
    kill it together with the notebook kernels it started, as a crash would (see kill())."""
    environment = dict(os.environ, QUEUE_URL=queue_url, DATABASE_URL=database_url, CRM_ENV="testing",
                       SECRET_KEY="test-secret", FIELD_KEY=FIELD_KEY, PYTHONUNBUFFERED="1", **env)
    started = []
    try:
        for n in range(count):
            log_path = tmp_path / f"{name}{n}.log"
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    [sys.executable, "run.py", "worker", "--workers", str(threads), "--import", module],
                    cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=own_group)
            started.append((process, log_path))
        deadline = time.monotonic() + 60
        for process, log_path in started:
            while READY not in log_path.read_text():
                assert process.poll() is None, f"worker exited ({process.returncode}):\n{log_path.read_text()}"
                assert time.monotonic() < deadline, f"worker not ready after 60 s:\n{log_path.read_text()}"
                time.sleep(0.05)
        yield [process for process, _ in started]
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # finish the running task, then exit
        for process, _ in started:
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                kill(process) if own_group else process.kill()
                process.wait()


def kill(process):
    """SIGKILL a worker started with own_group and everything it started (its notebook kernel), and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


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
