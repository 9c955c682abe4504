"""The monthly data-quality scan, a periodic job (listed in jobs.MODULES).

It scans every record (no user: the system's scope) for the day it runs and keeps the counts as a
QualityRun, which the 数据质量 screen shows as the last scan.
"""
import datetime
import logging

import jobs

log = logging.getLogger("quality")


def monthly_scan(today=None):
    """Scan the whole database for `today` (default: the day it runs) and record it; returns the QualityRun."""
    from .scan import record

    run = record(user=None, today=today or datetime.date.today(), trigger="schedule")
    log.info("数据质量扫描：%s 条问题记录，用时 %.2f 秒", run.total, run.duration or 0)
    return run


jobs.register("quality-scan", monthly_scan, "0 6 1 * *", description="每月数据质量扫描")
