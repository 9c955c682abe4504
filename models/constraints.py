"""Which rule of the database a refused write broke, read from either driver's error, so that a screen (or
the API) can say it in the user's words instead of showing the driver's text.

    constraints.unique_columns(error)   # ['kind', 'name'] for a duplicate (kind, name); [] otherwise
    constraints.broken(error)           # 'unique' / 'foreign_key' / 'not_null' / None

SQLite:      UNIQUE constraint failed: choice.kind, choice.name
PostgreSQL:  duplicate key value violates unique constraint "choice_kind_name" DETAIL: Key (kind, name)=(...)
Never imports Flask.
"""
import re

import peewee

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.,\s]+)")
_POSTGRES_KEY = re.compile(r"Key \(([^)]*)\)=")
# SQLSTATEs: unique_violation, foreign_key_violation, not_null_violation
_STATES = {"23505": "unique", "23503": "foreign_key", "23502": "not_null"}


def broken(error):
    """The kind of constraint `error` (a peewee IntegrityError) reports, or None when it is not one."""
    if not isinstance(error, peewee.IntegrityError):
        return None
    state = getattr(getattr(error, "orig", None), "pgcode", None) or getattr(error.__cause__, "pgcode", None)
    if state in _STATES:
        return _STATES[state]
    text = str(error)
    if text.startswith("UNIQUE constraint failed"):
        return "unique"
    if text.startswith("FOREIGN KEY constraint failed"):
        return "foreign_key"
    if text.startswith("NOT NULL constraint failed"):
        return "not_null"
    return None


def unique_columns(error):
    """The columns of the unique key a duplicate broke, as the table names them ([] when unknown)."""
    if broken(error) != "unique":
        return []
    text = str(error)
    found = _SQLITE_UNIQUE.search(text)
    if found:
        return [part.strip().split(".")[-1] for part in found.group(1).split(",") if part.strip()]
    found = _POSTGRES_KEY.search(text)
    if found:
        return [part.strip().strip('"') for part in found.group(1).split(",")]
    return []
