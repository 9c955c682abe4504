"""The full duplicate scan as a job on the one queue (listed in jobs.MODULES): nightly, and whenever someone
presses 重新扫描 on the 重复客户 screen (jobs.run_now("duplicate-scan")).

It scans every customer (no user: the system's scope) and keeps the groups as a DuplicateScan, which the
screen shows with its time instead of scanning a large database on each page load.  The last KEEP scans stay.
"""
import datetime
import json
import logging
import time

import jobs

log = logging.getLogger("dedup")
KEEP = 3
JOB = "duplicate-scan"


def record(trigger="schedule", username=None):
    """Scan every customer and keep the result; returns the DuplicateScan."""
    from models import Customer, DuplicateScan

    from .scan import scan

    started = time.monotonic()
    groups = scan()
    duration = time.monotonic() - started
    kept = DuplicateScan.create(
        at=datetime.datetime.now(), trigger=trigger, username=username, customers=Customer.select().count(),
        count=len(groups), duration=duration,
        groups=json.dumps([{"ids": g.ids, "codes": g.codes, "names": g.names, "reason": g.reason, "score": g.score,
                            "reasons": g.reasons} for g in groups], ensure_ascii=False))
    old = [row.id for row in DuplicateScan.select(DuplicateScan.id).order_by(DuplicateScan.id.desc()).offset(KEEP)]
    if old:
        DuplicateScan.delete().where(DuplicateScan.id.in_(old)).execute()
    log.info("重复客户扫描：%s 组，用时 %.2f 秒", kept.count, duration)
    return kept


def nightly_scan():
    return record()


jobs.register(JOB, nightly_scan, "30 2 * * *", description="每日重复客户扫描")
