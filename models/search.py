"""Indexed substring search over customer names, contacts and mobiles.

SQLite: an external-content FTS5 table with the trigram tokenizer, kept in sync by
triggers.  PostgreSQL: pg_trgm GIN indexes serving ILIKE.  Terms shorter than three
characters cannot use a trigram index, so they match by prefix on the column's b-tree
index instead of scanning the table.
"""
from peewee import SQL, NodeList

from .base import db, is_sqlite
from .customers import Customer

FTS_COLUMNS = ("name", "contact", "mobile")

_SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS customer_fts USING fts5("
    "name, contact, mobile, content='customer', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS customer_fts_ai AFTER INSERT ON customer BEGIN "
    "INSERT INTO customer_fts(rowid, name, contact, mobile) VALUES (new.id, new.name, new.contact, new.mobile); END",
    "CREATE TRIGGER IF NOT EXISTS customer_fts_ad AFTER DELETE ON customer BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, name, contact, mobile) "
    "VALUES ('delete', old.id, old.name, old.contact, old.mobile); END",
    "CREATE TRIGGER IF NOT EXISTS customer_fts_au AFTER UPDATE OF name, contact, mobile ON customer BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, name, contact, mobile) "
    "VALUES ('delete', old.id, old.name, old.contact, old.mobile); "
    "INSERT INTO customer_fts(rowid, name, contact, mobile) VALUES (new.id, new.name, new.contact, new.mobile); END",
]
SQLITE_TRIGGERS = ("customer_fts_ai", "customer_fts_ad", "customer_fts_au")

_POSTGRES_DDL = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
    f"CREATE INDEX IF NOT EXISTS customer_{c}_trgm ON customer USING gin ({c} gin_trgm_ops)" for c in FTS_COLUMNS
]


def install():
    """Create the search index for the bound database (idempotent)."""
    statements = _SQLITE_DDL if is_sqlite() else _POSTGRES_DDL
    for statement in statements:
        db.execute_sql(statement)


def rebuild():
    """Refill the SQLite FTS table after a bulk load that bypassed the triggers."""
    if is_sqlite():
        db.execute_sql("INSERT INTO customer_fts(customer_fts) VALUES ('rebuild')")


def drop_triggers():
    """Bulk loads run faster without per-row index upkeep; call rebuild() and install() after."""
    if is_sqlite():
        for name in SQLITE_TRIGGERS:
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")


def _escape_like(term):
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fragment_condition(columns, term):
    """A condition on Customer matching rows where any of `columns` contains `term`."""
    columns = [c for c in columns if c in FTS_COLUMNS]
    if not columns or not term:
        return None
    if len(term) < 3:
        condition = None
        for name in columns:
            field = getattr(Customer, name)
            part = (field >= term) & (field < term + "\uffff")
            condition = part if condition is None else condition | part
        return condition
    if is_sqlite():
        quoted = '"' + term.replace('"', '""') + '"'
        match = "{" + " ".join(columns) + "} : " + quoted
        ids = SQL("SELECT rowid FROM customer_fts WHERE customer_fts MATCH ?", [match])
        return Customer.id.in_(NodeList((SQL("("), ids, SQL(")")), glue=""))
    pattern = "%" + _escape_like(term) + "%"
    condition = None
    for name in columns:
        part = getattr(Customer, name).ilike(pattern)
        condition = part if condition is None else condition | part
    return condition
