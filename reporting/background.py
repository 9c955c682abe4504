"""The embedded queue: runs queued reports on a worker thread of the web process.

The admin's 立即运行 button must answer at once while a notebook takes seconds to
minutes, so it records a queued run and hands its id here.  Jobs take the run's id and
open their own database connection, so the same job can later run on a separate worker
(huey) without change.  One worker by default: each run starts a Jupyter kernel, and two
at once on a 2-core machine only make both slower.
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from . import runner

log = logging.getLogger(__name__)
_lock = threading.Lock()
_executor = None


def submit(run_id, config, workers=1):
    """Execute queued run `run_id` in the background; returns a concurrent.futures.Future."""
    global _executor
    settings = {key: config.get(key) for key in runner.DATABASE_KEYS}  # a plain copy, not the live app config
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report")
        return _executor.submit(_job, run_id, settings)


def _job(run_id, settings):
    from models import db

    try:
        with db.connection_context():
            return runner.execute_run(run_id, config=settings)
    except Exception:  # the run could not even be marked failed (database gone): keep a trace
        log.exception("report run %s could not be executed", run_id)
        raise
