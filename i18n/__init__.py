"""Interface language: Chinese by default, English selectable per session.

Flask-Admin's own strings follow through flask-babel; our labels and messages are
looked up by `current_language()`.
"""
from flask import Blueprint, current_app, has_request_context, redirect, request, session
from flask_babel import Babel

LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}  # ours -> babel locale ("zh-CN" would raise)

bp = Blueprint("i18n", __name__)


def current_language():
    if has_request_context():
        lang = session.get("lang")
        if lang in LANGUAGES:
            return lang
        return current_app.config.get("DEFAULT_LANGUAGE", "zh")
    return "zh"


@bp.route("/lang/<code>")
def switch(code):
    if code in LANGUAGES:
        session["lang"] = code
    target = request.referrer or "/admin/"
    if not target.startswith(request.host_url):
        target = "/admin/"  # never bounce to another site
    return redirect(target)


def init_app(app):
    Babel(app, locale_selector=lambda: LANGUAGES[current_language()])
    app.register_blueprint(bp)
    app.jinja_env.globals["current_language"] = current_language
