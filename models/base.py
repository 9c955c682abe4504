"""The single late-bound database and the base model every table inherits.

`bind(url)` is the only place a connection is configured, so the web app, the CLI,
jobs and notebooks all open the database the same way.
"""
import os
from urllib.parse import urlparse

from peewee import DatabaseProxy, IntegrityError, Model, SqliteDatabase
from playhouse.db_url import connect

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer
    "foreign_keys": 1,
    "busy_timeout": 30000,  # ms, the default budget (models.contention): several workers share one file
    "synchronous": "normal",  # safe with WAL, much faster than FULL
    "cache_size": -64000,  # 64 MiB page cache
}


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


def is_sqlite():
    return isinstance(db.obj, SqliteDatabase)


def bind(url, busy_seconds=None):
    """Connect the proxy to `url` (sqlite:///path or postgresql://...) and return the database.
    busy_seconds: how long a SQLite write waits for the write lock (models.contention; default 30)."""
    parsed = urlparse(url)
    options = {}
    if parsed.scheme.startswith("sqlite"):
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path  # sqlite:///rel or ////abs
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        options["pragmas"] = dict(SQLITE_PRAGMAS)
        if busy_seconds:
            options["pragmas"]["busy_timeout"] = int(busy_seconds * 1000)
        options["timeout"] = options["pragmas"]["busy_timeout"] / 1000  # the pragmas' own statements too
        # Transactions take the write lock at BEGIN. A deferred transaction that writes after
        # another connection committed gets "database is locked" at once (WAL's BUSY_SNAPSHOT
        # does not wait for busy_timeout); BEGIN IMMEDIATE waits its turn instead.
        options["lock_type"] = "IMMEDIATE"
    if "+" not in parsed.scheme and ":memory:" not in url:
        # Pooled connections outlive a request: SQLite keeps its page cache warm (a fresh
        # connection per request re-reads every page it touches) and skips the WAL checkpoint
        # that closing the last connection triggers; PostgreSQL skips a connection handshake.
        url = url.replace(parsed.scheme + "://", parsed.scheme + "+pool://", 1)
        options.update(max_connections=32, stale_timeout=300)
        if parsed.scheme.startswith("sqlite"):
            # A pooled connection serves one thread at a time, not always the thread that opened it.
            options["check_same_thread"] = False
    database = connect(url, **options)
    db.initialize(database)
    return database


def save_numbered(instance, field_name, make_number, save, attempts=10):
    """Save `instance`, filling an empty unique `field_name` from make_number().

    Numbers are "one past the highest taken". The number is read inside the transaction that
    inserts it, and saves take turns: on SQLite that transaction holds the write lock (BEGIN
    IMMEDIATE), on PostgreSQL a transaction-scoped advisory lock per table and field. Should two
    saves still pick the same number, the loser sees the unique constraint fail and takes the next. Each try is its own transaction or savepoint, so a
    clash does not abort the caller's transaction.
    """
    if getattr(instance, field_name):
        return save()
    model = type(instance)
    field = getattr(model, field_name)
    for attempt in range(attempts):
        try:
            with db.atomic():
                if not is_sqlite():
                    # Saves of the same kind of number take turns until commit, as SQLite's
                    # write lock makes them; the retry below stays as a safety net.
                    db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{model._meta.table_name}.{field_name}",))
                setattr(instance, field_name, make_number())
                return save()
        except IntegrityError:
            clash = model.select().where(field == getattr(instance, field_name)).exists()
            if not clash or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
