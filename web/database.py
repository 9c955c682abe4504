"""Binds the models' database to the app and opens/closes it around each request."""
import models
from models import db, sealed

from settings import field_keys


def _connect():
    db.connect(reuse_if_open=True)
    return None  # a truthy return would become Flask's response


def _close(exc):
    if not db.is_closed():
        db.close()


def init_app(app):
    sealed.configure(*field_keys(app.config))
    models.bind(app.config["DATABASE_URL"])
    app.before_request(_connect)
    app.teardown_request(_close)
