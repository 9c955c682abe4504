"""The Flask application factory: one init_app per concern, as in Flask's tutorial."""
from flask import Flask, redirect, url_for

import settings


def create_app(overrides=None):
    app = Flask(__name__, instance_path=settings.INSTANCE)
    app.config.update(settings.load(overrides))

    # Imported here so that importing `web` stays cheap and models stay free of Flask.
    import admin
    import api
    import auth
    import i18n

    from . import database, errors, nul_guard, security

    database.init_app(app)
    nul_guard.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    admin.init_app(app)
    api.init_app(app)  # the REST API under /api/v1/ (token auth, JSON errors)

    @app.route("/")
    def home():
        return redirect(url_for("admin.index"))

    return app
