"""Binds the models' database to the app and opens/closes it around each request."""
import weakref

from flask import current_app

import models
from models import contention, db, is_sqlite, sealed

from settings import field_keys

_bounded = weakref.WeakSet()  # PostgreSQL connections whose lock waits are bounded already


def _connect():
    db.connect(reuse_if_open=True)
    if not is_sqlite():
        # A request never waits for a row lock longer than the budget (models.contention); the worker and
        # the command line keep PostgreSQL's default (no limit): their long jobs may wait their turn.
        connection = db.connection()
        if connection not in _bounded:
            db.execute_sql(contention.lock_timeout_sql(current_app.config["DATABASE_BUSY_SECONDS"]))
            _bounded.add(connection)
    return None  # a truthy return would become Flask's response


def _close(exc):
    if not db.is_closed():
        db.close()


def init_app(app):
    sealed.configure(*field_keys(app.config))
    models.bind(app.config["DATABASE_URL"], busy_seconds=app.config.get("DATABASE_BUSY_SECONDS"))
    app.before_request(_connect)
    app.teardown_request(_close)
