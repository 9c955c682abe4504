"""The production server, `run.py serve` (waitress), as a real process on a loopback port, for benchmarks and tests."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

from harness.network import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def serving(database_url, log_path, threads=8, secret_key="load-secret", field_key=None, ready_timeout=60, **env):
    """`run.py serve --threads N` on a free port of 127.0.0.1 in production mode (CRM_ENV=production: the
    keys must be given, nothing is generated); yields (base URL, process).  Its output goes to `log_path`.
    On exit it is stopped as a service manager would (SIGTERM), killed if it has not gone in 15 s."""
    if field_key is None:
        raise ValueError("field_key: the production server refuses to start without FIELD_KEY")
    port = free_port()
    environment = dict(os.environ, CRM_ENV="production", DATABASE_URL=database_url, SECRET_KEY=secret_key,
                       FIELD_KEY=field_key, PYTHONUNBUFFERED="1", **env)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "run.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _listening(port):
            if process.poll() is not None:
                raise RuntimeError(f"run.py serve exited ({process.returncode}):\n{_read(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"run.py serve not listening after {ready_timeout} s:\n{_read(log_path)}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid):
    """User + system CPU seconds the process `pid` has used so far (from /proc; Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()[-5000:]
