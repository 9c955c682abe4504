"""Retention of the audit log: entries older than AUDIT_RETENTION_DAYS (default 1095, three years) are
deleted by the daily job `audit-retention`, the one way entries ever leave.

    audittrail.retention.purge(now=datetime.datetime(2026, 12, 7, 3, 45))   # -> Purged(rows, before, days)

The database refuses every other delete (models/audit.py).  The purge writes a permit for its cut-off,
deletes the entries before it, removes the permit and writes its own entry (how many, up to which
moment), all in one transaction: no other connection ever sees the permit, and a failure undoes all
of it.  No entry is written when nothing was old enough.  Never imports Flask.
"""
import datetime
import json
import logging
import os
from dataclasses import dataclass

from models import AuditLog, AuditPermit, db

log = logging.getLogger("audittrail")
KEEP_DAYS = 1095
MIN_DAYS = 1


class RetentionError(ValueError):
    """A retention setting that cannot be used (Chinese message); nothing is deleted."""


def keep_days(env=None):
    """AUDIT_RETENTION_DAYS as an int (default KEEP_DAYS); RetentionError for anything but a whole number >= 1."""
    env = os.environ if env is None else env
    text = (env.get("AUDIT_RETENTION_DAYS") or "").strip()
    if not text:
        return KEEP_DAYS
    if not text.isdigit() or int(text) < MIN_DAYS:
        raise RetentionError(f"AUDIT_RETENTION_DAYS 应为不小于 {MIN_DAYS} 的整数（天），收到 {text!r}；未删除任何审计日志")
    return int(text)


@dataclass
class Purged:
    rows: int
    before: datetime.datetime
    days: int


def purge(now=None, days=None, username="system"):
    """Delete audit entries with `at` before now - days; returns Purged."""
    now = now or datetime.datetime.now()
    days = keep_days() if days is None else int(days)
    if days < MIN_DAYS:
        raise RetentionError(f"保留天数应不小于 {MIN_DAYS}；未删除任何审计日志")
    before = now - datetime.timedelta(days=days)
    with db.atomic():
        permit = AuditPermit.create(before=before, created_at=now)
        rows = AuditLog.delete().where(AuditLog.at < before).execute()
        AuditPermit.delete().where(AuditPermit.id == permit.id).execute()
        if rows:
            AuditLog.create(at=now, username=username, action="retention", model="auditlog", rows=rows,
                            changes=json.dumps({"deleted": rows, "before": before.isoformat(sep=" "), "days": days},
                                               ensure_ascii=False))
    if rows:
        log.info("审计日志保留期限清理：删除 %s 条早于 %s 的记录（保留 %s 天）", rows, before, days)
    return Purged(rows=rows, before=before, days=days)
