"""The daily sweep of the status pipeline, a periodic job on the one queue (listed in jobs.MODULES).
It runs before the tag rules' sweep (03:15), whose status metric reads what it changed."""
import logging

import jobs

log = logging.getLogger("pipeline")
JOB = "pipeline"


def daily_sweep():
    from .sweep import sweep

    results = sweep()
    log.info("状态流转：%s 条，触发 %s", len(results), sum(r.fired for r in results))
    return results


jobs.register(JOB, daily_sweep, "5 3 * * *", description="每日按状态流转规则更新客户状态和标签")
