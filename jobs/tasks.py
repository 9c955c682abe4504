"""The tasks workers run.  Tasks take ids and names, never objects, and open the database
per task, so any worker on any machine can run them.

run_job runs one registered periodic job and records it as a JobRun; report_run executes a
queued report run (the admin's 立即运行, re-run and subscription preview queue it through
reporting.background.submit).
"""
import datetime
import logging
import time
import traceback

from peewee import IntegrityError

from models import JobRun, db

from . import registry
from .liveness import worker_name
from .queue import queue

log = logging.getLogger("jobs")
_settings = {}  # DATABASE_URL and FIELD_KEY of the process that configured the queue


def slot_key(name, moment):
    return f"{name}@{moment:%Y-%m-%d %H:%M}"


def due_tasks(moment):
    """Huey's scheduler asks this every minute: one run_job per enabled job due at `moment`."""
    return [run_job.s(job.name, slot=slot_key(job.name, moment)) for job in registry.due(moment)]


queue.periodic_source = due_tasks


@queue.task(name="jobs.run")
def run_job(name, run_id=None, slot=None):
    with db.connection_context():
        return execute(name, run_id=run_id, slot=slot)


def _claim(name, run_id, slot):
    """The JobRun this worker runs, now "running"; None when another worker has it."""
    now = datetime.datetime.now()
    if run_id is not None:
        taken = (JobRun.update(status="running", started_at=now, worker=worker_name())
                 .where((JobRun.id == run_id) & (JobRun.status == "queued")).execute())
        return JobRun.get_by_id(run_id) if taken else None
    try:
        with db.atomic():
            return JobRun.create(job=name, trigger="schedule", slot=slot, status="running", started_at=now,
                                 worker=worker_name())
    except IntegrityError:  # another worker's scheduler enqueued the same slot and got there first
        return None


def execute(name, run_id=None, slot=None):
    """Run job `name` once and record it; returns the JobRun, or None if it was not ours to run."""
    run = _claim(name, run_id, slot)
    if run is None:
        log.info("后台任务 %s 已由其他 worker 运行（%s），跳过", name, slot or f"run {run_id}")
        return None
    log.info("后台任务 %s 开始（run %s）", name, run.id)
    started = time.monotonic()
    status, error = "success", None
    try:
        registry.get(name).task()
    except Exception as exc:  # recorded on the run; the worker carries on with the next task
        status, error = "failed", "".join(traceback.format_exception(exc, limit=-8))
        log.error("后台任务 %s 失败：%s", name, exc)
    duration = time.monotonic() - started
    (JobRun.update(status=status, error=error, finished_at=datetime.datetime.now(), duration=duration)
     .where(JobRun.id == run.id).execute())
    log.info("后台任务 %s %s，用时 %.2f 秒", name, "完成" if status == "success" else "失败", duration)
    return JobRun.get_by_id(run.id)


def run_now(name, username="system"):
    """Queue job `name` for a worker now (立即运行); returns the queued JobRun."""
    registry.get(name)  # KeyError naming the known jobs
    run = JobRun.create(job=name, trigger="manual", username=username or "system", status="queued")
    try:
        run_job(name, run_id=run.id)
    except Exception as exc:  # the queue is unreachable (Redis down): say so on the run
        JobRun.update(status="failed", error=f"无法加入队列：{exc}",
                      finished_at=datetime.datetime.now()).where(JobRun.id == run.id).execute()
        raise
    return run


@queue.task(name="reporting.execute_run")
def report_run(run_id):
    """Execute queued report run `run_id` (reporting.runner.execute_run) on a worker."""
    from reporting import runner

    with db.connection_context():
        run = runner.execute_run(run_id, config=dict(_settings))
    if run is None:  # deleted before a worker got to it
        log.info("报表运行 %s 已不存在，跳过", run_id)
        return None
    return run.status
