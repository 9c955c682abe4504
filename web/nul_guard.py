"""Requests whose parameters or form fields carry a NUL character, or whose redirect target (`url`, `next`)
carries a line break, are refused (400, the Chinese 请求有误 page) before any view runs.

No text a person types holds a NUL, and PostgreSQL cannot store or compare one: a search, filter or saved field
with it failed in the driver ("A string literal cannot contain NUL") as a 500 on PostgreSQL while SQLite took
it.  A line break in the page to return to (?url=%0D on a details page of a missing record) went into the
Location header and failed there ("Header values must not contain newline characters").  One check at the
edge instead of one per search, filter, form and redirect; nothing is read or written.
"""
from flask import abort, request

REDIRECT_TARGETS = ("url", "next")  # where Flask-Admin and the login send the browser afterwards


def _has_nul(values):
    return any("\x00" in key or any("\x00" in value for value in values.getlist(key)) for key in values)


def _breaks_a_header(values):
    return any("\r" in value or "\n" in value for name in REDIRECT_TARGETS for value in values.getlist(name))


def refuse_nul():
    posted = request.method in ("POST", "PUT", "PATCH")
    if _has_nul(request.args) or (posted and _has_nul(request.form)):
        abort(400)
    if _breaks_a_header(request.args) or (posted and _breaks_a_header(request.form)):
        abort(400)


def init_app(app):
    app.before_request(refuse_nul)
