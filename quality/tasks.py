"""The monthly data-quality scan, a periodic job (listed in jobs.MODULES).

It scans every record (no user: the system's scope) for the day it runs and keeps the counts as a
QualityRun, which the 数据质量 screen shows as the last scan.
"""
import datetime
import logging

import jobs

log = logging.getLogger("quality")


def monthly_scan(today=None):
    """Scan the whole database for `today` (default: the day it runs) and record it; returns the QualityRun.

    Then, for every active user who may view the screen and whose row scope is too large to scan while
    the page loads (quality.scan.on_demand), a scan of that scope, recorded under their name: the screen
    shows them that one."""
    from .scan import record

    day = today or datetime.date.today()
    run = record(user=None, today=day, trigger="schedule")
    log.info("数据质量扫描：%s 条问题记录，用时 %.2f 秒", run.total, run.duration or 0)
    for user in scoped_users():
        scoped = record(user=user, today=day, trigger="schedule")
        log.info("数据质量扫描（%s 的数据范围）：%s 条问题记录，用时 %.2f 秒", user.username, scoped.total,
                 scoped.duration or 0)
    return run


def scoped_users():
    """Active users with the quality view whose row scope is not every record and too large for on demand."""
    import access
    from models import User

    from .scan import on_demand

    found = []
    for user in User.select().where(User.active == True).order_by(User.username):  # noqa: E712
        grant = access.grant_for(user)
        if not grant.can("quality", "view") or access.owner_ids(user, grant) is None:
            continue
        if not on_demand(user, grant):
            found.append(user)
    return found


jobs.register("quality-scan", monthly_scan, "0 6 1 * *", description="每月数据质量扫描")
