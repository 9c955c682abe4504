"""The daily retention job of the audit log, on the one jobs queue (listed in jobs.MODULES)."""
import jobs


def audit_retention():
    from . import retention

    return retention.purge().rows


jobs.register("audit-retention", audit_retention, "45 3 * * *",
              description="删除超过保留期限（AUDIT_RETENTION_DAYS，默认 1095 天）的审计日志")
