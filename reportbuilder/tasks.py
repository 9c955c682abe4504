"""The job `builder-copy` on the one queue (listed in jobs.MODULES): the report builder's shared columnar copy
(analytics.copies) rebuilt every CRM_BUILDER_COPY_EVERY_MINUTES (default 15), and queued (`queue_build`) after an
import or sync commits, after the value refresh, when the screen finds no fresh copy of a large database, and by
the screen's 刷新数据 button, and after a backup is restored (after_restore).  One queued build at a time: a second request while one waits queues nothing.
"""
import logging

import jobs
from analytics import copies

log = logging.getLogger("reportbuilder")
JOB = "builder-copy"


def build_copy():
    built = copies.build()
    return None if built is None else built.path


def waiting(states=("queued",)):
    """Whether a build is queued (or in one of `states`)."""
    from models import JobRun

    return JobRun.select().where((JobRun.job == JOB) & JobRun.status.in_(list(states))).exists()


def queue_build(username="system", if_running=False, check_size=True):
    """Queue a build for a worker unless one is queued already (or, with if_running, running: the screen asking
    again while a build is under way); nothing below the size rule (check_size).  Returns the queued JobRun or
    None.  Never raises: an import or a page must not fail because the queue is down (logged; the schedule
    catches up)."""
    try:
        if check_size and not copies.large_enough():
            return None
        if waiting(("queued", "running") if if_running else ("queued",)):
            return None
        return jobs.run_now(JOB, username=username)
    except Exception as error:  # noqa: BLE001 - see the docstring
        log.warning("自定义报表数据副本未能加入队列：%s", error)
        return None


def after_restore(username="system"):
    """The database was replaced by a backup (backup.restore, backup.RESTORED): the copies hold the numbers from
    before it, so they go (the screen reads live data until the next copy) and a build is queued, large databases
    only.  A queued build the restored job table lists came with the backup and is not on this queue, so it does
    not count as one waiting.  Returns the queued JobRun or None; never raises (the restore is done and audited)."""
    try:
        copies.discard(source=copies.source_key())
        if not copies.large_enough():
            return None
        return jobs.run_now(JOB, username=username)
    except Exception as error:  # noqa: BLE001 - see the docstring
        log.warning("恢复备份后未能更新自定义报表数据副本：%s", error)
        return None


def _schedule():
    try:
        return copies.rules().schedule
    except copies.RulesError as error:  # a bad setting: say so in the worker's log, keep the default schedule
        log.error("%s；按默认每15分钟更新", error)
        return "*/15 * * * *"


jobs.register(JOB, build_copy, _schedule(), description="更新自定义报表的数据副本（大数据量时）")
