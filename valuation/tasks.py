"""The daily refresh of the value table, a periodic job on the one queue (listed in jobs.MODULES).

It runs before the daily tag-rule sweep (03:15), so rules over 客户分层 see the day's tiers.
"""
import datetime
import logging

import jobs

log = logging.getLogger("valuation")
JOB = "value-refresh"


def daily_refresh(today=None):
    from reportbuilder.tasks import queue_build

    from .refreshing import refresh

    outcome = refresh(today or datetime.date.today(), trigger="schedule")
    queue_build()  # the report builder's shared copy holds tiers and LTV (large databases only)
    return outcome


jobs.register(JOB, daily_refresh, "30 2 * * *", description="每日刷新客户价值分析表")
