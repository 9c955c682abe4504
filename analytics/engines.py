"""Where the analysis queries of analytics.queries run, picked from a registry like its dialects.

    duckdb      SQLite file: DuckDB runs the query over the file through its SQLite scanner
                (ATTACH ... (TYPE sqlite, READ_ONLY)).  SQLite groups 10M orders in 30-45 s;
                DuckDB does the same GROUP BY in 1-2 s, reading the file as it is.
                PostgreSQL, only while a snapshot asked for with take_snapshot(postgresql=True)
                is held (valuation's refresh): DuckDB over the columns copied out by binary COPY.
    sqlite      SQLite in memory (DuckDB cannot attach it): the query through peewee.
    postgresql  PostgreSQL groups fast itself: the query through peewee.

The queries are built once with peewee in the engine's dialect (analytics.queries.DIALECTS) and
the engine executes them, so the filters and the SQL shape are the same on every engine.

The first engine in PREFERENCE that serves the bound database is used; CRM_ANALYTICS_ENGINE
(or `using(name)`, for tests and benchmarks) names one instead, e.g. "sqlite" for plain SQL
on a SQLite file.

Freshness: the SQLite file is in WAL mode with writers possibly active.  The scanner opens the
file with SQLite itself, which reads the WAL, and takes a new read snapshot per query, so a
query sees everything committed before it started and nothing uncommitted.
"""
import contextlib
import glob
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import peewee

import models

ENV = "CRM_ANALYTICS_ENGINE"


@dataclass(frozen=True)
class Engine:
    name: str
    dialect: str  # key of analytics.queries.DIALECTS
    serves: Callable[[], bool]  # can it run queries of the bound database?
    fetch: Callable  # fetch(peewee query) -> DataFrame with the query's column aliases


def _sqlite_file():
    """Path of the bound SQLite database file, or None (in memory, or not SQLite)."""
    if not models.is_sqlite():
        return None
    path = models.db.obj.database
    if not path or path == ":memory:" or str(path).startswith("file:"):
        return None
    return os.path.abspath(path)


def _server_key():
    """The snapshot key of the bound PostgreSQL database (this process, this binding), or None."""
    if models.is_sqlite():
        return None
    return ("postgresql", id(models.db.obj), models.db.obj.database)


def _peewee_fetch(query):
    import pandas as pd  # here, not at the top: a report kernel starts its snapshot before pandas loads

    cursor = models.db.execute(query)
    columns = [column[0] for column in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def scanner_extension():
    """Path of the sqlite_scanner extension shipped by the duckdb-extension-sqlite-scanner package.

    Loaded from its file: there is no internet to INSTALL from, and autoloading is switched off.
    """
    import duckdb
    import duckdb_extension_sqlite_scanner

    folder = os.path.join(os.path.dirname(duckdb_extension_sqlite_scanner.__file__), "extensions")
    exact = os.path.join(folder, f"v{duckdb.__version__}", "sqlite_scanner.duckdb_extension")
    found = [exact] if os.path.exists(exact) else glob.glob(os.path.join(folder, "*", "sqlite_scanner.duckdb_extension"))
    if not found:
        raise RuntimeError(f"sqlite_scanner extension not found under {folder}")
    return found[0]


def duckdb_over_sqlite(path):
    """A new DuckDB connection with the SQLite file at `path` attached read-only as catalog "crm"."""
    import duckdb

    connection = duckdb.connect(config={"autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False})
    connection.execute(f"LOAD '{scanner_extension()}'")
    quoted = path.replace("'", "''")
    connection.execute(f"ATTACH '{quoted}' AS crm (TYPE sqlite, READ_ONLY)")
    return connection


_open = {}  # "key": (process id, path), "connection": DuckDB; one file at a time, a forked child opens its own
_lock = threading.Lock()


def _duckdb_connection(path):
    key = (os.getpid(), path)
    with _lock:
        if _open.get("key") != key:
            if _open.get("key", (None,))[0] == os.getpid():
                _open["connection"].close()
            _open.update(key=key, connection=duckdb_over_sqlite(path))
        return _open["connection"]


# What a snapshot copies: the tables and columns the analysis queries read (not the customers'
# contact or encrypted columns, which no aggregate needs and which would only cost memory; not
# the ids of orders, status changes or tag links, which the queries never read: 10M order ids
# alone are 80 MB and a second of copying).
SNAPSHOT = {  # largest first: it starts first (see _Copy.run)
    models.Order: ("customer", "ordered_at", "amount"),
    models.Customer: ("id", "owner", "region", "industry", "status", "first_contact"),
    models.StatusChange: ("customer", "to_status", "at"),
    models.CustomerTag: ("customer", "tag"),
    models.Tag: ("id", "name"),
}
_snapshot = {}  # "key": (process id, path), "copy": the _Copy of that file's tables


def _sorted(model, order_by):
    return f' ORDER BY "{model._meta.fields[order_by].column_name}"' if order_by else ""


def copy_table(connection, model, names, into="memory.main", order_by=None):
    """Copy columns `names` of `model`'s table from the attached file ("crm") into DuckDB's memory (or the
    schema `into` of another attached DuckDB database), on a cursor of its own (so several copies can run at once
    on one connection); order_by (a field name) stores the rows in its order."""
    columns = ", ".join(f'"{model._meta.fields[name].column_name}"' for name in names)
    table = model._meta.table_name
    cursor = connection.cursor()
    try:
        cursor.execute(f'CREATE TABLE {into}."{table}" AS SELECT {columns} FROM crm."{table}"'
                       + _sorted(model, order_by))
    finally:
        cursor.close()


# PostgreSQL's binary COPY gives each NOT NULL fixed-width column as (int32 length, value): read as one numpy
# record per row, no parsing in Python.  field type -> (cast in the SELECT, big-endian numpy type, to DuckDB).
_EPOCH_2000_US = 946_684_800_000_000  # PostgreSQL's timestamps count microseconds from 2000-01-01
_BINARY = {
    "INT": ("int4", ">i4", lambda values: values.astype("int64")),
    "AUTO": ("int4", ">i4", lambda values: values.astype("int64")),
    "BIGINT": ("int8", ">i8", lambda values: values.astype("int64")),
    "FLOAT": ("float8", ">f8", lambda values: values.astype("float64")),
    "DOUBLE": ("float8", ">f8", lambda values: values.astype("float64")),
    # money as a double, as DuckDB reads SQLite's REAL: sums are rounded to cents by the callers
    "DECIMAL": ("float8", ">f8", lambda values: values.astype("float64")),
    "DATETIME": ("timestamp", ">i8", lambda values: (values.astype("int64") + _EPOCH_2000_US).view("datetime64[us]")),
}


def _binary_column(model, name):
    field = model._meta.fields[name]
    kind = field.field_type if field.field_type in _BINARY else getattr(field, "rel_field", field).field_type
    if kind not in _BINARY or field.null:
        raise ValueError(f"{model.__name__}.{name}: only NOT NULL numbers and times are copied from PostgreSQL")
    return field.column_name, _BINARY[kind]


def _copy_out(cursor, sql):
    """COPY ... TO STDOUT through the DB-API cursor, as bytes (psycopg2 or psycopg 3)."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        buffer = io.BytesIO()
        cursor.copy_expert(sql, buffer)
        return buffer.getbuffer()
    with cursor.copy(sql) as copy:  # psycopg 3
        return b"".join(bytes(block) for block in copy)


def copy_table_from_server(connection, model, names, into="memory.main", order_by=None):
    """Copy columns `names` of `model`'s table from the bound PostgreSQL database into DuckDB's memory (or the
    schema `into` of another attached DuckDB database): one binary COPY, read as numpy records, handed to DuckDB
    as arrays, on a database connection of this thread's own and a DuckDB cursor of its own."""
    import numpy as np
    import pandas as pd

    columns = [_binary_column(model, name) for name in names]
    select = ", ".join(f'"{column}"::{cast}' for column, (cast, _, _) in columns)
    record = [("fields", ">i2")]
    for number, (_, (_, kind, _)) in enumerate(columns):
        record += [(f"length_{number}", ">i4"), (f"value_{number}", kind)]
    record = np.dtype(record)
    with models.db.connection_context():
        data = _copy_out(models.db.cursor(), f'COPY (SELECT {select} FROM "{model._meta.table_name}") TO STDOUT '
                                             "(FORMAT binary)")
    # 19 bytes of header (signature, flags, no extension), the rows, a 2-byte trailer
    rows = np.frombuffer(data, dtype=record, offset=19, count=(len(data) - 21) // record.itemsize)
    frame = pd.DataFrame({column: convert(rows[f"value_{number}"])
                          for number, (column, (_, _, convert)) in enumerate(columns)})
    del rows, data
    cursor = connection.cursor()
    try:
        cursor.register("copied", frame)
        cursor.execute(f'CREATE TABLE {into}."{model._meta.table_name}" AS SELECT * FROM copied'
                       + _sorted(model, order_by))
        cursor.unregister("copied")
    finally:
        cursor.close()


class _Copy:
    """The tables of `tables` (default SNAPSHOT) copied from the SQLite file at `path` into a new DuckDB connection,
    in this thread or a background one; `connection()` waits for the copy and returns it."""

    def __init__(self, path, tables=None):
        self.path = path  # None: the bound PostgreSQL database
        self.tables = tables or SNAPSHOT
        self._done = threading.Event()
        self._connection = None
        self._error = None

    def run(self):
        connection = None
        try:
            if self.path is None:
                import duckdb

                connection, copy = duckdb.connect(config={"autoinstall_known_extensions": False,
                                                          "autoload_known_extensions": False}), copy_table_from_server
            else:
                connection, copy = duckdb_over_sqlite(self.path), copy_table
            # Each table's copy runs single-threaded in the scanner (or one PostgreSQL backend): orders on one
            # core, the other tables beside it on the other (a third less time on two cores).  Cursors share
            # the database, so the copies land in the same memory catalog.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="analytics-snapshot") as pool:
                copies = [pool.submit(copy, connection, model, names) for model, names in self.tables.items()]
                for done in copies:
                    done.result()
            if self.path is not None:
                connection.execute("DETACH crm")
            self._connection = connection
        except BaseException as error:  # re-raised to whoever asks for the connection
            self._error = error
            if connection is not None:
                connection.close()
        finally:
            self._done.set()

    def connection(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._connection

    def close(self):
        self._done.wait()
        if self._connection is not None:
            self._connection.close()


def take_snapshot(wait=True, tables=None, postgresql=False):
    """Copy the tables the analyses read from the SQLite file into DuckDB's memory; until
    drop_snapshot(), this process's DuckDB queries read the copy.  Returns False (and does
    nothing) when the bound database is not a SQLite file.

    Through the scanner every query re-reads the file, single-threaded: 12–16 s per aggregate
    at 10M orders.  A report asks for several aggregates, so a report's kernel (analytics.session)
    copies the columns once (seconds) and aggregates DuckDB's own tables (about 1 s each).
    The copy is as of this call: a later change reaches the analyses after the next snapshot.

    wait=False copies in a background thread and returns at once; queries wait for the copy,
    which is then as of the moments it read each table (just after the call).  DuckDB releases
    the GIL while it copies, so a kernel can import its libraries meanwhile.

    tables ({model: field names}, default SNAPSHOT) copies only those: a caller whose queries read
    fewer tables and columns (valuation's refresh: the orders and the customers' ids) copies less.

    postgresql=True copies from a bound PostgreSQL database too (binary COPY of NOT NULL number and
    time columns: `tables` must name only such), and until drop_snapshot() the queries of this
    process run on DuckDB over the copy.  Only valuation's refresh asks: its two aggregates group
    every order of the history, where PostgreSQL's own plans at 10M orders took minutes
    (docs/values.md); a report's queries are filtered and PostgreSQL groups them itself.
    """
    path = _sqlite_file()
    if path is not None:
        key = (os.getpid(), path)
    elif postgresql and _server_key() is not None:
        key = (os.getpid(), _server_key())
    else:
        return False
    copy = _Copy(path, tables)
    with _lock:
        previous = _snapshot.get("copy")
        _snapshot.update(key=key, copy=copy)
    if previous is not None:
        previous.close()
    if not wait:
        threading.Thread(target=copy.run, name="analytics-snapshot", daemon=True).start()
        return True
    copy.run()
    try:
        copy.connection()
    except BaseException:
        with _lock:  # the file, not a failed copy, answers the queries (unless replaced meanwhile)
            if _snapshot.get("copy") is copy:
                _snapshot.clear()
        raise
    return True


def drop_snapshot():
    """Back to reading the SQLite file on every query."""
    with _lock:
        copy = _snapshot.pop("copy", None)
        _snapshot.pop("key", None)
    if copy is not None:
        copy.close()


def _held_snapshot():
    """The _Copy this process's DuckDB queries read for the bound database, or None."""
    source = _sqlite_file() or _server_key()
    with _lock:
        return _snapshot.get("copy") if source is not None and _snapshot.get("key") == (os.getpid(), source) else None


# Queries for DuckDB are rendered as for SQLite (its quoting, ? placeholders and parameter values, which DuckDB
# reads alike), whatever the bound database: a PostgreSQL snapshot's queries too.
_RENDER_AS = peewee.SqliteDatabase(None)


def _duckdb_fetch(query):
    sql, params = _RENDER_AS.get_sql_context().parse(query)
    path = _sqlite_file()
    copy = _held_snapshot()
    snapshot = copy.connection() if copy is not None else None
    # One cursor per query, as threads may share the connection; USE is per cursor, and makes
    # peewee's unqualified table names resolve in the snapshot or the SQLite file.
    cursor = (snapshot or _duckdb_connection(path)).cursor()
    try:
        cursor.execute("USE memory" if snapshot is not None else "USE crm")
        return cursor.execute(sql, params).df()
    finally:
        cursor.close()


ENGINES = {
    "duckdb": Engine("duckdb", "duckdb", lambda: _sqlite_file() is not None or _held_snapshot() is not None,
                     _duckdb_fetch),
    "sqlite": Engine("sqlite", "sqlite", models.is_sqlite, _peewee_fetch),
    "postgresql": Engine("postgresql", "postgresql", lambda: not models.is_sqlite(), _peewee_fetch),
}
PREFERENCE = ("duckdb", "sqlite", "postgresql")

_forced = threading.local()


def current():
    """The engine for the bound database: the one asked for, else the first preferred that serves it."""
    wanted = getattr(_forced, "name", None) or os.environ.get(ENV) or None
    if wanted:
        engine = ENGINES.get(wanted)
        if engine is None:
            raise ValueError(f"{ENV}: unknown engine {wanted!r}; known: {', '.join(ENGINES)}")
        if not engine.serves():
            raise ValueError(f"analytics engine {wanted!r} cannot run on this database")
        return engine
    return next(ENGINES[name] for name in PREFERENCE if ENGINES[name].serves())


@contextlib.contextmanager
def using(name):
    """Run the queries in this block (this thread) on engine `name`."""
    previous = getattr(_forced, "name", None)
    _forced.name = name
    try:
        yield ENGINES[name]
    finally:
        _forced.name = previous
