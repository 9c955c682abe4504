"""Small helpers for the pipeline's hand-written SQL, the same text on SQLite and PostgreSQL.

Queries are built as (sql, params) pairs with the backend's own placeholder (`?` on SQLite, `%s` on
PostgreSQL), so a peewee query (a row scope, the customers an import touched) can be pasted in as a
subquery with its own params.  Datetimes are passed as text on SQLite, where peewee stores them as text.
"""
import datetime

from models import db, is_sqlite


class Sql:
    """A piece of SQL and its params; `+` joins pieces, `Sql.of(peewee_query)` wraps a query."""

    def __init__(self, text="", params=()):
        self.text = text
        self.params = list(params)

    def __add__(self, other):
        if isinstance(other, str):
            other = Sql(other)
        return Sql(self.text + other.text, self.params + other.params)

    def __radd__(self, other):
        return Sql(other) + self

    @classmethod
    def of(cls, query):
        text, params = query.sql()
        return cls(text, params)

    def execute(self):
        return db.execute_sql(self.text, self.params)


def p():
    """The backend's placeholder."""
    return db.obj.param


def value(v):
    """A param for `v`: datetimes and dates as peewee stores them on SQLite (text), as they are on PostgreSQL."""
    if is_sqlite() and isinstance(v, (datetime.datetime, datetime.date)):
        return str(v) if not isinstance(v, datetime.datetime) else v.strftime("%Y-%m-%d %H:%M:%S")
    return v


def param(v):
    return Sql(p(), [value(v)])


def in_list(values):
    """IN (...) of `values` as params; never empty (an empty list matches nothing)."""
    values = list(values)
    if not values:
        return Sql("(NULL)")
    return Sql("(" + ", ".join(p() for _ in values) + ")", [value(v) for v in values])


def within(column, ids):
    """`column IN (...)` for ids (a list) or a peewee query of ids; empty Sql for None (everyone)."""
    if ids is None:
        return Sql()
    if hasattr(ids, "sql"):
        return Sql(f" AND {column} IN (") + Sql.of(ids) + ")"
    return Sql(f" AND {column} IN ") + in_list(ids)


def day_plus(expression, days):
    """The start of the day of datetime `expression`, plus `days` (an int checked by the caller)."""
    days = int(days)
    if is_sqlite():
        return f"datetime(date({expression}), '+{days} days')"
    return f"(date_trunc('day', {expression}) + interval '{days} days')"


def insert_ignore(table, columns):
    """The head of an INSERT ... SELECT that skips rows a unique key already holds; returns (head, tail)."""
    cols = ", ".join(columns)
    if is_sqlite():
        return f"INSERT OR IGNORE INTO {table} ({cols}) ", ""
    return f"INSERT INTO {table} ({cols}) ", " ON CONFLICT DO NOTHING"
