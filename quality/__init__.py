"""The data-quality scan (issue 10, part 4): findings, counts, drill-down, batch fix and delete.

    import quality
    quality.scan(user, today=datetime.date(2025, 6, 1))     # {"missing-contact": 12, ...} in the user's scope
    quality.records("invalid-mobile", user, page=1)         # the matching records, masked per the policy
    quality.fix("unlisted-industry", "industry", "互联网", user, ids=[...])   # or everything=True
    quality.delete("stale", user, ids=[...], dry_run=True)   # how many would go

The findings are a registry (quality.findings.REGISTRY); each counts with one query that runs in the
database.  Every entry point asks `access` for the user's grant and row scope.  Never imports Flask.
"""
from . import findings
from .batch import Outcome, Refused, clean, delete, fix
from .findings import GROUPS, REGISTRY, Context, Finding, finding, get, pending
from .scan import ON_DEMAND_CUSTOMERS, context, findings_for, last_run, on_demand, record, records, scan, scope_size

__all__ = ["Context", "Finding", "GROUPS", "ON_DEMAND_CUSTOMERS", "Outcome", "REGISTRY", "Refused", "clean", "context",
           "delete", "finding", "findings", "findings_for", "fix", "get", "last_run", "on_demand", "pending", "record",
           "records", "scan", "scope_size"]
