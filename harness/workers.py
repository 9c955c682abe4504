"""Real `run.py worker` processes, as production runs them, for tests and benchmarks."""
import base64
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELD_KEY = base64.b64encode(b"k" * 32).decode()  # as tests/conftest.py
READY = "Huey consumer started"


@contextmanager
def workers(tmp_path, database_url, queue_url, count=1, threads=1, name="worker", module=None,
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
                    [sys.executable, "run.py", "worker", "--workers", str(threads)] + (["--import", module] if module else []),
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


def wait_for(condition, what, timeout=90):
    """condition()'s first true value, asked every 0.1 s; fails after `timeout` seconds saying `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.1)
