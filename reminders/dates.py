"""Date arithmetic in SQL, the same on SQLite and PostgreSQL."""
import datetime

from models import is_sqlite


def plus_days(expression, days):
    """The day `days` days after `expression` (a date or a timestamp column/expression), as SQL."""
    from peewee import fn

    days = int(days)
    if is_sqlite():
        return fn.date(expression, f"{days:+d} days")
    return expression.cast("date") + days


def midnight(day):
    return datetime.datetime.combine(day, datetime.time())
