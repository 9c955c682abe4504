"""Is the worker that claimed a piece of work still there?

Work a worker claims (a job run, a report run, a subscription delivery) records who claimed it as
`host:pid` (worker_name()).  When that worker is killed (SIGKILL, a crashed machine) the work
stays "running" for ever unless someone notices:
- a worker on this machine that has exited is noticed at once (its pid is gone);
- any other claim (a live pid here, or another machine) is trusted until its lease runs out, which is
  longer than any run: a pid since reused by another process delays this only to the lease.
Never imports Flask.
"""
import datetime
import os
import socket


def worker_name():
    """Who claims work in this process: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def lost(claimed_by, claimed_at, now, lease_seconds):
    """Whether the claim by `claimed_by` at `claimed_at` is abandoned on `now` (same clock as
    claimed_at): its process on this machine has exited, or the lease is over (or there is no time)."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid)):
        return True
    return claimed_at is None or now - claimed_at > datetime.timedelta(seconds=lease_seconds)
