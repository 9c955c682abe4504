"""The single late-bound database and the base model every table inherits.

`bind(url)` is the only place a connection is configured, so the web app, the CLI,
jobs and notebooks all open the database the same way.
"""
import os
from urllib.parse import urlparse

from peewee import DatabaseProxy, Model
from playhouse.db_url import connect

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer
    "foreign_keys": 1,
    "busy_timeout": 10000,  # ms; several workers share one file
    "synchronous": "normal",  # safe with WAL, much faster than FULL
    "cache_size": -64000,  # 64 MiB page cache
}


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


def is_sqlite():
    return db.obj is not None and db.obj.__class__.__name__.startswith("Sqlite")


def bind(url):
    """Connect the proxy to `url` (sqlite:///path or postgresql://...) and return the database."""
    parsed = urlparse(url)
    options = {}
    if parsed.scheme.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        options["pragmas"] = SQLITE_PRAGMAS
    database = connect(url, **options)
    db.initialize(database)
    return database
