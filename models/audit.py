"""The audit trail is append-only, enforced by the database itself.

Triggers on `audit_log` refuse every UPDATE, and every DELETE of a row that no purge permit covers:

    SQLite      BEFORE UPDATE / BEFORE DELETE triggers that RAISE(ABORT, ...)
    PostgreSQL  a BEFORE UPDATE OR DELETE row trigger calling audit_log_append_only()

A purge permit is a row of `audit_permit` naming a moment: while it exists, rows of the audit log older
than that moment may be deleted, and no others.  Only the retention job (audittrail.retention.purge)
writes one, inside the transaction that deletes and then removes the permit again, so no other
connection ever sees it (SQLite holds the write lock, PostgreSQL hides uncommitted rows) and a crash
rolls it back.  The permit table itself refuses UPDATE (a permit cannot be moved forward).

`install()` is called by models.create_tables (init-db, and the migration step on existing databases)
and after a restore; it is idempotent.  TRUNCATE and DROP TABLE are not row deletes: they need the
table's owner, which is the database administrator's business (docs/audit.md).
"""
import datetime

from peewee import DateTimeField

from .base import BaseModel, db, is_sqlite

REFUSED_UPDATE = "审计日志只能追加，不能修改"
REFUSED_DELETE = "审计日志只能追加：只有保留期限清理任务可以删除超过保留期限的记录"
REFUSED_PERMIT = "清理许可不能修改"


class AuditPermit(BaseModel):
    """A purge permit: audit rows with `at` before `before` may be deleted while this row exists."""

    before = DateTimeField()
    created_at = DateTimeField(default=datetime.datetime.now)


SQLITE_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "audit_permit_no_update")

_SQLITE_DDL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED_UPDATE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    f"WHEN NOT EXISTS (SELECT 1 FROM audit_permit AS p WHERE old.at < p.before) "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED_DELETE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_permit_no_update BEFORE UPDATE ON audit_permit "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSED_PERMIT}'); END",
]

_POSTGRES_DDL = [
    f"""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $crm_audit$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_permit AS p WHERE OLD.at < p.before) THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION '{REFUSED_DELETE}' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION '{REFUSED_UPDATE}' USING ERRCODE = 'insufficient_privilege';
END
$crm_audit$""",
    f"""CREATE OR REPLACE FUNCTION audit_permit_fixed() RETURNS trigger LANGUAGE plpgsql AS $crm_audit$
BEGIN
  RAISE EXCEPTION '{REFUSED_PERMIT}' USING ERRCODE = 'insufficient_privilege';
END
$crm_audit$""",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "DROP TRIGGER IF EXISTS audit_permit_fixed ON audit_permit",
    "CREATE TRIGGER audit_permit_fixed BEFORE UPDATE ON audit_permit "
    "FOR EACH ROW EXECUTE FUNCTION audit_permit_fixed()",
]

# The audit screen filters by model and record (系统管理 → 审计日志); at, username, action and model have
# their own indexes on the model.
_INDEXES = ["CREATE INDEX IF NOT EXISTS audit_log_model_record_id ON audit_log (model, record_id)"]


def install():
    """Create the permit table, the append-only triggers and the audit screen's indexes (idempotent)."""
    db.create_tables([AuditPermit], safe=True)
    statements = (_SQLITE_DDL if is_sqlite() else _POSTGRES_DDL) + _INDEXES
    with db.atomic():
        for statement in statements:
            db.execute_sql(statement)


def installed():
    """True when the database refuses updates and deletes of the audit log (its triggers exist)."""
    if is_sqlite():
        found = {name for (name,) in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_log', 'audit_permit')")}
        return set(SQLITE_TRIGGERS) <= found
    (count,) = db.execute_sql(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname IN "
        "('audit_log_append_only', 'audit_permit_fixed') AND tgrelid IN "
        "(to_regclass('audit_log'), to_regclass('audit_permit'))").fetchone()
    return count == 2
