"""Indexed substring search over customer names, contacts and mobiles.

SQLite: an external-content FTS5 table with the trigram tokenizer, kept in sync by
triggers.  PostgreSQL: pg_trgm GIN indexes serving ILIKE.  Terms shorter than three
characters cannot use a trigram index, so they match by prefix on the column's b-tree
index instead of scanning the table.
"""
from contextlib import contextmanager

from peewee import SQL, NodeList

from .base import db, is_sqlite
from .customers import Customer

FTS_COLUMNS = ("name", "contact", "mobile")

# A row here (only ever inside the transaction of indexed_as_a_set) switches the insert trigger off.
BULK = "customer_fts_bulk"

_SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS customer_fts USING fts5("
    "name, contact, mobile, content='customer', content_rowid='id', tokenize='trigram')",
    f"CREATE TABLE IF NOT EXISTS {BULK} (id INTEGER PRIMARY KEY)",
    f"CREATE TRIGGER IF NOT EXISTS customer_fts_ai AFTER INSERT ON customer WHEN NOT EXISTS (SELECT 1 FROM {BULK}) "
    "BEGIN INSERT INTO customer_fts(rowid, name, contact, mobile) "
    "VALUES (new.id, new.name, new.contact, new.mobile); END",
    "CREATE TRIGGER IF NOT EXISTS customer_fts_ad AFTER DELETE ON customer BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, name, contact, mobile) "
    "VALUES ('delete', old.id, old.name, old.contact, old.mobile); END",
    "CREATE TRIGGER IF NOT EXISTS customer_fts_au AFTER UPDATE OF name, contact, mobile ON customer BEGIN "
    "INSERT INTO customer_fts(customer_fts, rowid, name, contact, mobile) "
    "VALUES ('delete', old.id, old.name, old.contact, old.mobile); "
    "INSERT INTO customer_fts(rowid, name, contact, mobile) VALUES (new.id, new.name, new.contact, new.mobile); END",
]
SQLITE_TRIGGERS = ("customer_fts_ai", "customer_fts_ad", "customer_fts_au")

def _trigram_index(column):
    return f"customer_{column}_trgm"


_POSTGRES_DDL = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
    f"CREATE INDEX IF NOT EXISTS {_trigram_index(c)} ON customer USING gin ({c} gin_trgm_ops)" for c in FTS_COLUMNS
]


def install():
    """Create the search index for the bound database (idempotent)."""
    statements = _SQLITE_DDL if is_sqlite() else _POSTGRES_DDL
    if is_sqlite():
        found = _insert_trigger()
        if found and BULK not in found:  # the trigger of a version before BULK: made again below
            db.execute_sql("DROP TRIGGER customer_fts_ai")
    for statement in statements:
        db.execute_sql(statement)


def _insert_trigger():
    found = db.execute_sql("SELECT sql FROM sqlite_master "
                           "WHERE type = 'trigger' AND name = 'customer_fts_ai'").fetchone()
    return found[0] if found else None


def rebuild():
    """Refill the SQLite FTS table after a bulk load that bypassed the triggers."""
    if is_sqlite():
        db.execute_sql("INSERT INTO customer_fts(customer_fts) VALUES ('rebuild')")


def drop_triggers():
    """Bulk loads run faster without per-row index upkeep; call rebuild() and install() after.

    SQLite: the triggers that keep the FTS table in step; PostgreSQL: the trigram indexes.
    """
    if is_sqlite():
        for name in SQLITE_TRIGGERS:
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for column in FTS_COLUMNS:
            db.execute_sql(f"DROP INDEX IF EXISTS {_trigram_index(column)}")


@contextmanager
def indexed_as_a_set(first_id, last_id):
    """Insert customers with ids first_id..last_id inside this block, and they are indexed by one
    set-based statement at its end instead of a trigger call per row: about three times faster for
    an import's chunk (FTS5 buffers the whole chunk's trigrams at once).  PostgreSQL: nothing to do
    (GIN indexes).

    The insert trigger is switched off by a row in BULK, written and deleted inside the caller's
    transaction (required: a kill then rolls the row back with everything else), so no other
    connection ever sees it.  It used to be dropped and re-created, but that changes the schema:
    every other connection then reloads it, and SQLite failed a few of their concurrent writes with
    "no such table: customer" (tests/test_faults_writers.py, an import beside edits on the server).
    """
    if not is_sqlite():
        yield
        return
    if not db.in_transaction():
        raise RuntimeError("indexed_as_a_set runs inside a transaction")
    if BULK not in (_insert_trigger() or ""):  # a database init-db has not brought up to date yet
        install()
    db.execute_sql(f"INSERT OR IGNORE INTO {BULK} (id) VALUES (1)")
    try:
        yield
        db.execute_sql("INSERT INTO customer_fts(rowid, name, contact, mobile) "
                       "SELECT id, name, contact, mobile FROM customer WHERE id BETWEEN ? AND ?", (first_id, last_id))
    finally:
        db.execute_sql(f"DELETE FROM {BULK}")


# A term found in at least DENSE_HITS of the newest SAMPLE_ROWS customers is "dense": walking
# the table in id order meets a page of matches within a few thousand rows, whereas the FTS
# index would first have to decode its (huge) lists for every trigram of the term.
SAMPLE_ROWS = 2000
DENSE_HITS = 20


def is_dense(columns, term):
    """True when a row-by-row check in id order beats the index for `term` (SQLite only).

    Decided on a sample of the newest rows, so the probe costs the same however common the term.
    """
    columns = [c for c in columns if c in FTS_COLUMNS]
    if not is_sqlite() or not columns or len(term) < 3:
        return False
    pattern = "%" + _escape_like(term) + "%"
    where = " OR ".join(f"\"{c}\" LIKE ? ESCAPE '\\'" for c in columns)
    cursor = db.execute_sql(
        f"SELECT count(*) FROM (SELECT {', '.join(columns)} FROM customer ORDER BY id DESC LIMIT ?) WHERE {where}",
        [SAMPLE_ROWS] + [pattern] * len(columns),
    )
    return cursor.fetchone()[0] >= DENSE_HITS


def _match_expression(columns, term):
    quoted = '"' + term.replace('"', '""') + '"'
    return "{" + " ".join(columns) + "} : " + quoted


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
        ids = SQL("SELECT rowid FROM customer_fts WHERE customer_fts MATCH ?", [_match_expression(columns, term)])
        return Customer.id.in_(NodeList((SQL("("), ids, SQL(")")), glue=""))
    return contains_condition(columns, term)


def contains_condition(columns, term):
    """Plain substring match (ILIKE '%term%'): pg_trgm serves it on PostgreSQL; on SQLite it is
    checked row by row, which is what a dense term wants (see is_dense)."""
    condition = None
    for name in columns:
        part = getattr(Customer, name).contains(term)  # ILIKE with % and _ escaped
        condition = part if condition is None else condition | part
    return condition
