"""Interface language: Chinese by default, English selectable per session.

Flask-Admin's own strings follow through flask-babel; our labels and messages are
looked up by `current_language()`.
"""
import os

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
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


HERE = os.path.dirname(os.path.abspath(__file__))


def compile_admin_messages(target_dir):
    """Compile our additions to Flask-Admin's catalog into target_dir/<locale>/LC_MESSAGES/admin.mo.

    Flask-Admin searches Admin(translations_path=...) before its own catalog, so only the
    strings it lacks need to be here.
    """
    source_dir = os.path.join(HERE, "admin_messages")
    for name in os.listdir(source_dir):
        locale, ext = os.path.splitext(name)
        if ext != ".po":
            continue
        out_dir = os.path.join(target_dir, locale, "LC_MESSAGES")
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(source_dir, name), "rb") as po, open(os.path.join(out_dir, "admin.mo"), "wb") as mo:
            write_mo(mo, read_po(po, locale=locale))
    return target_dir


def init_app(app):
    Babel(app, locale_selector=lambda: LANGUAGES[current_language()])
    app.register_blueprint(bp)
    app.jinja_env.globals["current_language"] = current_language
