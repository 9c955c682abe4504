"""The daily full sweep of the tag rules, a periodic job on the one queue (listed in jobs.MODULES)."""
import logging

import jobs

log = logging.getLogger("tagrules")
JOB = "tag-rules"


def daily_sweep():
    from .sweep import sweep

    results = sweep()
    log.info("标签规则：%s 条规则，新增 %s，移除 %s", len(results), sum(r.applied for r in results),
             sum(r.removed for r in results))
    return results


jobs.register(JOB, daily_sweep, "15 3 * * *", description="每日按标签规则更新客户标签")
