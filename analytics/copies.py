"""The report builder's shared columnar copy: the columns 自定义报表 reads, in a DuckDB database file under
instance/analytics/, rebuilt by a job on the one queue and read READ_ONLY by every web process.

Why: at 1M customers / 10M orders the builder's quick reports took 2-4 s read live (DuckDB's scanner re-reads a
SQLite file for every query; PostgreSQL groups 10M orders itself), and well under 1 s over DuckDB's own tables.
Like Metabase's model persistence or Zoho Analytics' sync, the copy is stated-fresh: it records the moment it was
taken, the screen says "数据截至 …", and a copy older than the maximum age is never read.

    copies.build()                  # the job builder-copy (reportbuilder.tasks): write a new file, or None
    copy = copies.newest()          # the newest usable copy for the bound database, or None: read live
    copy.engine.fetch(query)        # a peewee query run on the copy (DuckDB, READ_ONLY)
    copy.taken_at                   # everything committed before this moment is in the copy

Rules (environment variables, read when asked, documented in docs/report-builder.md):

    CRM_BUILDER_COPY_MIN_ORDERS      200000  below this many orders (estimated by the largest order id) no copy is
                                             built and the builder reads live data, as it always did
    CRM_BUILDER_COPY_EVERY_MINUTES   15      the job's schedule (a divisor of 60, or whole hours dividing 24)
    CRM_BUILDER_COPY_MAX_AGE_MINUTES 60      an older copy is never read: live data, and a build is queued
    CRM_BUILDER_COPY_DIR             instance/analytics

What is copied: orders (customer, time, amount), the customers' grouping and filter columns, code and name (the
客户 list) and owner, tags and their links, the value table's tier and LTV, and users' display names.  No contact
or encrypted column.  From a SQLite file DuckDB's scanner copies each table; from PostgreSQL the NOT NULL numbers
and times come by binary COPY (analytics.engines) and the tables with text or NULLs by a CSV COPY that DuckDB's
CSV reader loads (a Python row loop would take seconds per million rows).

A build writes `.part-builder-….duckdb` (mode 0600, in a 0700 folder), then renames it to `builder-<stamp>-….duckdb`
in one step, so a reader never sees half a file.  Builds take turns on a lock file; a build that waited for
another whose copy was taken after it was asked for writes nothing (two builds at once leave one file).  A file
is deleted GRACE_MINUTES after a newer one appeared (a process that listed it a moment before can still open it;
one that has it open keeps reading it, as Linux keeps an unlinked file until it is closed).
"""
import contextlib
import datetime
import fcntl
import glob
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import models
from models import Customer, CustomerTag, CustomerValue, Order, Tag, User

from . import engines

log = logging.getLogger("analytics.copies")

PREFIX = "builder-"
SUFFIX = ".duckdb"
PART = ".part-"
LOCK = "builder.lock"
INFO = "copy_info"  # the side table: when the copy was taken, of which database, how long it took
GRACE_MINUTES = 5
CATALOG = "builder_copy"

# What the builder reads (reportbuilder.catalog and compute), largest first: orders start first on one thread.
TABLES = {
    Order: ("customer", "ordered_at", "amount"),
    Customer: ("id", "code", "name", "owner", "industry", "region", "status", "source", "first_contact"),
    CustomerTag: ("customer", "tag"),
    CustomerValue: ("customer", "tier", "ltv"),
    User: ("id", "username", "display_name"),
    Tag: ("id", "name"),
}
# Rows stored in this order: DuckDB keeps each row group's min and max, so a period reads only its own orders'
# row groups (the quick reports look at the last 12 or 24 months of a longer history).
SORTED = {Order: "ordered_at"}
_STAMP = "%Y%m%dT%H%M%S"
_NAME = re.compile(r"^builder-(\d{8}T\d{6})-.*\.duckdb$")


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Rules:
    min_orders: int
    every_minutes: int
    max_age_minutes: int
    folder: str

    @property
    def schedule(self):
        """The cron expression of every_minutes."""
        if self.every_minutes < 60:
            return f"*/{self.every_minutes} * * * *"
        return f"0 */{self.every_minutes // 60} * * *"

    @property
    def every_label(self):
        """每15分钟 / 每2小时, as the screen says it."""
        if self.every_minutes % 60 == 0:
            hours = self.every_minutes // 60
            return "每小时" if hours == 1 else f"每{hours}小时"
        return f"每{self.every_minutes}分钟"


def _number(env, name, default, least):
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RulesError(f"{name} 应为整数，当前为 {text!r}") from None
    if value < least:
        raise RulesError(f"{name} 不能小于 {least}，当前为 {value}")
    return value


def rules(env=None):
    """The rules from the environment (RulesError with a Chinese message on a bad value)."""
    from settings import INSTANCE

    env = os.environ if env is None else env
    every = _number(env, "CRM_BUILDER_COPY_EVERY_MINUTES", 15, 1)
    if not ((every < 60 and 60 % every == 0) or (every % 60 == 0 and 24 % (every // 60) == 0)):
        raise RulesError(f"CRM_BUILDER_COPY_EVERY_MINUTES 应能整除 60（如 5、10、15、30）或为整除 24 的整小时数"
                         f"（如 60、120、360），当前为 {every}")
    return Rules(min_orders=_number(env, "CRM_BUILDER_COPY_MIN_ORDERS", 200_000, 0), every_minutes=every,
                 max_age_minutes=_number(env, "CRM_BUILDER_COPY_MAX_AGE_MINUTES", 60, 1),
                 folder=(env.get("CRM_BUILDER_COPY_DIR") or "").strip() or os.path.join(INSTANCE, "analytics"))


def estimate_orders():
    """About how many orders there are: the largest order id (an index lookup, not a COUNT of 10M rows)."""
    return int(Order.select(Order.id).order_by(Order.id.desc()).limit(1).scalar() or 0)


def large_enough(rule=None):
    rule = rule or rules()
    return estimate_orders() >= rule.min_orders


def source_key():
    """Which database a copy is of (a digest: the file's path, or the server, database and connection options;
    no password is stored in the copy)."""
    database = models.db.obj
    if models.is_sqlite():
        text = "sqlite:" + os.path.abspath(str(database.database))
    else:
        params = {k: v for k, v in database.connect_params.items() if k != "password"}
        text = f"postgresql:{database.database}:{sorted(params.items())}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- building ----------------------------------------------------------------------------------------------------

@dataclass
class Built:
    path: str
    taken_at: datetime.datetime
    seconds: float
    orders: int


def _files(folder):
    """Finished copies in `folder`, oldest first: [(taken_at, path)]."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(folder), f"{PREFIX}*{SUFFIX}")):
        matched = _NAME.match(os.path.basename(path))
        if matched:
            found.append((datetime.datetime.strptime(matched.group(1), _STAMP), path))
    return sorted(found)


@contextlib.contextmanager
def _turn(folder):
    """Builds take turns (a lock file in the folder; released when the build ends or its process dies)."""
    handle = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def _copy_text_from_server(connection, model, names, into, folder):
    """Columns `names` of `model`'s table from PostgreSQL by a CSV COPY into a scratch file (0600), loaded by
    DuckDB's CSV reader with the columns' types; NULL and the empty text stay apart (PostgreSQL quotes "")."""
    types = {"INT": "BIGINT", "AUTO": "BIGINT", "BIGINT": "BIGINT", "VARCHAR": "VARCHAR", "TEXT": "VARCHAR",
             "DATE": "DATE", "DATETIME": "TIMESTAMP", "DECIMAL": "DOUBLE", "FLOAT": "DOUBLE", "DOUBLE": "DOUBLE"}
    fields = [model._meta.fields[name] for name in names]
    kinds = [types[getattr(field, "rel_field", field).field_type if field.field_type not in types
                   else field.field_type] for field in fields]
    select = ", ".join(f'"{field.column_name}"' for field in fields)
    scratch = os.path.join(folder, f"{PART}{model._meta.table_name}-{os.getpid()}-{threading.get_ident()}.csv")
    try:
        with open(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            with models.db.connection_context():
                cursor = models.db.cursor()
                cursor.copy_expert(f'COPY (SELECT {select} FROM "{model._meta.table_name}") TO STDOUT '
                                   "(FORMAT csv)", out)
        columns = ", ".join(f"'{field.column_name}': '{kind}'" for field, kind in zip(fields, kinds))
        quoted = scratch.replace("'", "''")
        cursor = connection.cursor()
        try:
            cursor.execute(f'CREATE TABLE {into}."{model._meta.table_name}" AS SELECT * FROM read_csv(\'{quoted}\', '
                           f"columns={{{columns}}}, header=false, delim=',', quote='\"', escape='\"', "
                           "allow_quoted_nulls=false, auto_detect=false)")
        finally:
            cursor.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(scratch)


def _binary_ok(model, names):
    try:
        for name in names:
            engines._binary_column(model, name)
    except ValueError:
        return False
    return True


def _write(path, folder, taken_at, orders):
    """Copy TABLES into a new DuckDB file at `path`, with the side table INFO."""
    import duckdb

    sqlite_file = engines._sqlite_file()
    if sqlite_file is not None:
        connection = engines.duckdb_over_sqlite(sqlite_file)

        def copy(model, names):
            engines.copy_table(connection, model, names, into=f"{CATALOG}.main", order_by=SORTED.get(model))
    else:
        connection = duckdb.connect(config={"autoinstall_known_extensions": False,
                                            "autoload_known_extensions": False})

        def copy(model, names):
            if _binary_ok(model, names):
                engines.copy_table_from_server(connection, model, names, into=f"{CATALOG}.main",
                                               order_by=SORTED.get(model))
            else:
                _copy_text_from_server(connection, model, names, f"{CATALOG}.main", folder)
    try:
        quoted = path.replace("'", "''")
        connection.execute(f"ATTACH '{quoted}' AS {CATALOG}")
        started = time.perf_counter()
        # Each table copies on one core (the scanner, or one PostgreSQL backend): orders on one thread, the rest
        # beside it on the other.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="builder-copy") as pool:
            for done in [pool.submit(copy, model, names) for model, names in TABLES.items()]:
                done.result()
        seconds = time.perf_counter() - started
        connection.execute(f"CREATE TABLE {CATALOG}.main.{INFO} (taken_at TIMESTAMP, source VARCHAR, "
                           "orders_estimate BIGINT, seconds DOUBLE)")
        connection.execute(f"INSERT INTO {CATALOG}.main.{INFO} VALUES (?, ?, ?, ?)",
                           [taken_at, source_key(), orders, seconds])
        connection.execute(f"DETACH {CATALOG}")
    finally:
        connection.close()
    return seconds


def build(now=None, rule=None):
    """Write a new copy of the bound database and remove superseded ones; returns Built, or None when the data is
    below the rule's size (any copy is removed: the builder reads live data) or another build, taken after this
    one was asked for, already holds everything this one would."""
    rule = rule or rules()
    asked_at = now or datetime.datetime.now()
    orders = estimate_orders()
    os.makedirs(rule.folder, mode=0o700, exist_ok=True)
    if orders < rule.min_orders:
        discard(rule)
        log.info("自定义报表数据副本：约 %s 笔订单，少于 %s，直接读取数据库，不建副本", orders, rule.min_orders)
        return None
    with _turn(rule.folder):
        mine = source_key()
        newer = [p for taken, p in _files(rule.folder) if taken >= asked_at.replace(microsecond=0)
                 and _info(p).get("source") == mine]
        if newer:
            log.info("自定义报表数据副本：%s 已在本次请求之后生成，跳过", os.path.basename(newer[-1]))
            return None
        taken_at = (now or datetime.datetime.now()).replace(microsecond=0)  # before the first row is read
        name = f"{PREFIX}{taken_at.strftime(_STAMP)}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        final = os.path.join(rule.folder, name)
        part = os.path.join(rule.folder, PART + name)
        try:
            seconds = _write(part, rule.folder, taken_at, orders)
            os.chmod(part, 0o600)
            os.replace(part, final)
        except BaseException:
            for leftover in (part, part + ".wal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(leftover)
            raise
        prune(rule.folder)
    log.info("自定义报表数据副本 %s：%.1f 秒，约 %s 笔订单", name, seconds, orders)
    return Built(final, taken_at, seconds, orders)


def discard(rule=None, source=None):
    """Remove every copy (the data is below the size rule: the builder reads live data), or with `source` (a
    source_key()) only the copies of that database (a restore replaced its rows; other databases' copies stay)."""
    rule = rule or rules()
    if not os.path.isdir(rule.folder):
        return
    with _turn(rule.folder):
        for _, path in _files(rule.folder):
            if source is None or _info(path).get("source") == source:
                _remove(path)


def _remove(path):
    for leftover in (path, path + ".wal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    _infos.pop(path, None)
    with _lock:
        _readers.pop(path, None)


def prune(folder, grace_minutes=GRACE_MINUTES, clock=time.time):
    """Delete each copy whose successor has been in place for grace_minutes, and scratch files a killed build
    left more than a day ago."""
    files = [path for _, path in _files(folder)]
    for older, newer in zip(files, files[1:]):
        try:
            if clock() - os.path.getmtime(newer) >= grace_minutes * 60:
                _remove(older)
        except FileNotFoundError:
            continue
    for scratch in glob.glob(os.path.join(glob.escape(folder), PART + "*")):
        with contextlib.suppress(FileNotFoundError):
            if clock() - os.path.getmtime(scratch) > 86400:
                os.remove(scratch)


# --- reading -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Copy:
    path: str
    taken_at: datetime.datetime
    rule: Rules

    @property
    def engine(self):
        return self.engine_with({})

    def engine_with(self, tables):
        """The engine over this copy with `tables` ({name: DataFrame}) visible to each query by name (the
        report builder hands it the viewer's live scope)."""
        return engines.Engine("builder-copy", "duckdb", lambda: True,
                              lambda query: _fetch(self.path, query, tables))

    @property
    def note(self):
        """数据截至 2026-12-07 17:50（每15分钟更新）"""
        return f"数据截至 {self.taken_at:%Y-%m-%d %H:%M}（{self.rule.every_label}更新）"


_infos = {}  # path -> {"taken_at", "source"}: a finished file never changes
_readers = {}  # path -> (process id, DuckDB connection READ_ONLY): one per file per process
_lock = threading.Lock()


def _info(path):
    known = _infos.get(path)
    if known is None:
        import duckdb

        try:
            cursor = _reader(path).cursor()
            try:
                taken_at, source = cursor.execute(f"SELECT taken_at, source FROM {INFO}").fetchone()
            finally:
                cursor.close()
        except (duckdb.Error, TypeError) as error:  # not ours, or damaged: never read
            log.warning("自定义报表数据副本 %s 无法读取：%s", path, error)
            return {}
        known = _infos[path] = {"taken_at": taken_at, "source": source}
    return known


def _reader(path):
    """This process's READ_ONLY connection to `path` (a forked child opens its own); older files' connections are
    dropped when a newer file is opened (a query still running on one keeps its cursor)."""
    import duckdb

    with _lock:
        held = _readers.get(path)
        if held is not None and held[0] == os.getpid():
            return held[1]
        connection = duckdb.connect(path, read_only=True, config={"autoinstall_known_extensions": False,
                                                                   "autoload_known_extensions": False})
        for other in [p for p in _readers if p != path]:
            _readers.pop(other)
        _readers[path] = (os.getpid(), connection)
        return connection


def _fetch(path, query, tables=None):
    sql, params = engines._RENDER_AS.get_sql_context().parse(query)
    cursor = _reader(path).cursor()  # one cursor per query: threads share the connection
    try:
        for name, frame in (tables or {}).items():  # views of this cursor alone
            cursor.register(name, frame)
        return cursor.execute(sql, params).df()
    finally:
        cursor.close()


def newest(now=None, rule=None):
    """The newest copy of the bound database not older than the rule's maximum age, or None (read live)."""
    rule = rule or rules()
    now = now or datetime.datetime.now()
    mine = source_key()
    for taken_at, path in reversed(_files(rule.folder)):
        info = _info(path)
        if info.get("source") != mine:
            continue
        if now - info["taken_at"] > datetime.timedelta(minutes=rule.max_age_minutes):
            return None  # the newest of this database is too old; older ones are older still
        return Copy(path, info["taken_at"], rule)
    return None
