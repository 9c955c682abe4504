"""The roll-ups' refresh as a job on the one queue (listed in jobs.MODULES): daily after the value refresh (02:30),
the status pipeline (03:05), the tag rules' sweep (03:15) and the reminders (03:45), whose results the home page
shows; and queued (`queue_refresh`) after an import or its undo, and on the first view of a large database.
"""
import datetime
import logging

import jobs

log = logging.getLogger("dashboard")
JOB = "dashboard-refresh"


def daily_refresh(today=None):
    from .rollup import refresh

    return refresh(today or datetime.date.today(), trigger="schedule")


def queue_refresh(username="system"):
    """Queue a refresh for a worker unless one is queued already (several imports in a row queue one); returns the
    queued JobRun, or None when one was waiting or the queue cannot be reached (logged; the daily job catches up)."""
    from models import JobRun

    try:
        if JobRun.select().where((JobRun.job == JOB) & (JobRun.status == "queued")).exists():
            return None
        return jobs.run_now(JOB, username=username)
    except Exception as error:  # an import must not fail because the queue is down
        log.warning("首页数据刷新未能加入队列：%s", error)
        return None


jobs.register(JOB, daily_refresh, "0 4 * * *", description="每日刷新首页仪表盘的汇总数据")
