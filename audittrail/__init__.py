"""The audit trail as a capability, never imports Flask (the admin, the CLI and the worker use it).

    audittrail.deleted_values(row, masked={"id_number"})   # what a delete entry records
    audittrail.role_policy(role_id)                        # a role's permissions and column rules, for before/after
    audittrail.policy_changes(before, after)               # {key: [old, new]} of what differs
    audittrail.retention.purge(now=..., days=...)          # the daily job audit-retention: the one way entries leave

The audit log itself is append-only in the database (models/audit.py: triggers that refuse UPDATE and
DELETE, except a delete of entries older than a purge permit that only `retention.purge` writes, inside
its own transaction).  See docs/audit.md.
"""
from .policy import policy_changes, role_policy
from .values import SECRET_COLUMNS, deleted_values

__all__ = ["SECRET_COLUMNS", "deleted_values", "policy_changes", "role_policy"]
