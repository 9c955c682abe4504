"""Report runs in the background: on the one jobs queue, executed by `run.py worker`.

The admin's 立即运行, re-run and the subscription preview must answer at once while a notebook
takes seconds to minutes, so they record a queued run (runner.queue_run) and hand its id here.
This puts the run's id on the jobs queue (jobs.tasks.report_run), the same queue as the
subscriptions' deliveries and the periodic sweeps; a worker opens its own database connection
and executes it (runner.execute_run), on this machine or another one sharing QUEUE_URL.  Nothing
runs in the web process.  Never imports Flask.
"""
import datetime


class QueueUnavailable(Exception):
    """The run could not be put on the queue (Redis down, queue file unwritable); the run is marked failed."""


def submit(run_id, config=None):
    """Queue report run `run_id` for a worker; `config` (app.config or any mapping) names QUEUE_URL.

    Raises QueueUnavailable, with the run marked failed and the reason on it, when the queue
    cannot be reached, so no run waits for a task that was never queued.
    """
    import jobs
    from models import ReportRun

    jobs.configure(config)
    try:
        jobs.report_run(run_id)
    except Exception as error:  # noqa: BLE001 - whatever the storage raised, say it on the run
        message = f"无法加入后台队列：{error}"
        (ReportRun.update(status="failed", error_name="无法加入队列", error=message,
                          finished_at=datetime.datetime.now())
         .where((ReportRun.id == run_id) & (ReportRun.status == "queued")).execute())
        raise QueueUnavailable(message) from error


def waiting_for_worker(run, config=None):
    """Whether queued `run` waits for a worker that is not running (no heartbeat on its queue)."""
    if run.status != "queued":
        return False
    import jobs

    jobs.configure(config)
    try:
        return not jobs.queue.worker_running()
    except Exception:  # noqa: BLE001 - the queue itself is unreachable: no worker can take the run either
        return True
