"""Writers that meet: how long a statement waits for another transaction's lock, and which errors mean
"the database was busy" rather than "something is wrong".

    models.bind(url, busy_seconds=30)        # SQLite busy_timeout; PostgreSQL: see lock_timeout_sql()
    contention.is_busy(error)                # True for a lock wait that ran out, a deadlock, a serialization failure

SQLite has one writer at a time.  Every transaction starts with BEGIN IMMEDIATE (models.base.bind), so it
queues for the write lock at its start, where SQLite's busy handler retries it (sleeping a little longer
each time) until busy_timeout: that is the bounded retry, at the one place transactions start, before
anything was done that a retry would have to undo.  A deferred transaction that read first would instead
fail at its first write with SQLITE_BUSY_SNAPSHOT at once, without waiting, once another connection had
committed meanwhile.  Only a write transaction longer than the budget (a very large import: one
transaction) makes a writer give up; the user then sees 系统繁忙，请稍后重试 and nothing was changed, since
the transaction never began or is rolled back (web/errors.py, admin/secured.py).

PostgreSQL takes row locks and waits for them without limit by default; the web app sets lock_timeout to
the same budget on its connections (web/database.py), so a request never hangs behind a stuck
transaction: it gets the same message.  Deadlocks and serialization failures (the platform runs at READ
COMMITTED, where the latter do not occur) are reported the same way should one ever happen.
Never imports Flask.
"""
import sqlite3

DEFAULT_BUSY_SECONDS = 30

# SQLSTATEs of a transaction that lost to another one: serialization_failure, deadlock_detected,
# lock_not_available (lock_timeout, NOWAIT).
BUSY_STATES = {"40001", "40P01", "55P03"}
BUSY_SQLITE = ("database is locked", "database table is locked", "database is busy")

BUSY_MESSAGE = "系统繁忙，请稍后重试"
BUSY_DETAIL = "其他操作正在写入数据，本次操作等待超时，没有做任何修改。请稍后重新提交。"


def is_busy(error):
    """Whether `error` (a peewee or driver exception) says the database was busy, not that the request was wrong."""
    # peewee keeps the driver's exception as `orig`; psycopg2's carries the SQLSTATE as `pgcode`
    for candidate in (error, getattr(error, "orig", None), getattr(error, "__cause__", None)):
        if candidate is None:
            continue
        if getattr(candidate, "pgcode", None) in BUSY_STATES:
            return True
        if isinstance(candidate, sqlite3.OperationalError) or type(candidate).__name__ == "OperationalError":
            if str(candidate).startswith(BUSY_SQLITE):
                return True
    return False


def lock_timeout_sql(busy_seconds):
    """The statement that bounds a PostgreSQL session's lock waits to the budget."""
    return f"SET lock_timeout = '{int(busy_seconds * 1000)}ms'"
