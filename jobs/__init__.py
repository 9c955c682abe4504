"""Background work: a task queue, the workers that run it, and the periodic job registry.

    import jobs
    jobs.register("tag-rules", apply_tag_rules, "0 * * * *", description="按规则更新客户标签")
    jobs.run_now("tag-rules", username="admin")       # a worker runs it soon
    jobs.tasks.report_run(run.id)                      # any task: call it to enqueue

`run.py worker` runs the consumer: queued tasks plus every enabled job when its schedule
is due.  The queue is huey on instance/queue.db (no server); QUEUE_URL=redis://... lets
several workers on several machines share it.  Modules that register jobs are listed in
MODULES, so the worker and the admin see the same registry.  Never imports Flask.
"""
import importlib

from . import registry
from .queue import queue, queue_url
from .registry import Job, available, get, register, unregister
from .tasks import execute, report_run, run_job, run_now

# Modules whose import registers periodic jobs (one `jobs.register(...)` line each).
MODULES = ["subscriptions.tasks", "quality.tasks", "intake.tasks", "dedup.tasks", "tagrules.tasks", "pipeline.tasks", "valuation.tasks", "reminders.tasks", "jobs.reaping", "dashboard.tasks", "backup.tasks", "audittrail.tasks", "reportbuilder.tasks"]


def discover(extra=()):
    """Import MODULES (and `extra`), so every job is registered in this process."""
    for name in list(MODULES) + list(extra):
        importlib.import_module(name)


def configure(config=None):
    """Point the queue at config's QUEUE_URL (else the environment, else instance/queue.db)
    and keep the database settings tasks pass on (DATABASE_URL, FIELD_KEY)."""
    config = config or {}
    tasks._settings.clear()
    tasks._settings.update({key: config[key] for key in ("DATABASE_URL", "FIELD_KEY", "FIELD_KEY_OLD") if config.get(key)})
    queue.configure(queue_url(config))
    return queue


def overview(now=None):
    """Each registered job with its last run (a JobRun or None) and next scheduled run."""
    from models import JobRun

    rows = []
    for job in available():
        last = JobRun.select().where(JobRun.job == job.name).order_by(JobRun.id.desc()).first()
        rows.append({"job": job, "last": last, "next_run": job.next_run(now)})
    return rows


__all__ = ["Job", "MODULES", "available", "configure", "discover", "execute", "get", "overview", "queue",
           "queue_url", "register", "registry", "report_run", "run_job", "run_now", "unregister"]
