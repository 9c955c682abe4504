"""The 403, 404 and 500 pages: in the platform's look and the user's language, with a way back.

Registered for the whole app, so Flask-Admin screens that abort(403) or abort(404) (a screen
the access policy forbids, a record out of scope) and unknown URLs get them too.  The page
stands alone (no Flask-Admin context, no database), so it renders for anonymous users and
when the database itself is what failed.

A 500 never shows the exception: its text, traceback and file paths go to the app's log
(`app.logger`, stderr under `run.py serve`) with a reference, and the page shows only an
apology and that reference, so a user can quote it and an operator find the log entry.
"""
import datetime
import secrets

import peewee

from flask import current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from i18n import current_language
from models import contention

PLATFORM = "客户资料管理与分析平台"  # in both languages, as the admin screens' top bar

TEXTS = {
    "zh": {
        403: ("无权访问", "您的账号没有打开此页面的权限。如确实需要，请联系系统管理员。"),
        404: ("页面不存在", "您要找的页面或记录不存在，或不在您的账号可查看的范围内。"),
        500: ("系统出错了", "抱歉，处理您的请求时出现了问题，我们已记录此错误。请稍后再试；"
                           "如果问题持续出现，请把下面的参考编号告诉系统管理员。"),
        400: ("请求有误", "提交的内容无法处理，可能是表单已过期。请返回上一页刷新后重试。"),
        405: ("操作不被允许", "此页面不接受这种操作。请通过页面上的按钮或链接操作。"),
        413: ("上传的文件太大", "上传的文件超过了系统允许的大小，请拆分后分批上传。"),
        503: (contention.BUSY_MESSAGE, contention.BUSY_DETAIL),
        "other": ("请求无法处理", "系统无法处理此请求。请返回上一页重试。"),
        "home": "返回首页",
        "back": "返回上一页",
        "reference": "参考编号",
        "time": "时间",
    },
    "en": {
        403: ("Access denied", "Your account is not allowed to open this page. "
                               "If you need it, ask your system administrator."),
        404: ("Page not found", "The page or record you asked for does not exist, "
                                "or is outside what your account may see."),
        500: ("Something went wrong", "Sorry, something went wrong while handling your request, and the error "
                                      "has been logged. Please try again later; if it keeps happening, give your "
                                      "system administrator the reference below."),
        400: ("Bad request", "What was sent could not be processed; the form may have expired. "
                             "Go back, reload the page and try again."),
        405: ("Not allowed", "This page does not accept that kind of request. Use the buttons and links on the page."),
        413: ("File too large", "The uploaded file is larger than the platform accepts. Split it and upload the parts."),
        503: ("The system is busy, please try again", "Other work was writing the same data and this request timed out "
                                                      "waiting for it; nothing was changed. Please submit it again shortly."),
        "other": ("Request not handled", "The platform could not handle this request. Go back and try again."),
        "home": "Back to the home page",
        "back": "Go back",
        "reference": "Reference",
        "time": "Time",
    },
}


# Surfaces that answer errors in their own format, by path prefix (the REST API: JSON, api/errors.py):
# prefix -> handler(error) -> response.  Every handler below hands such a request over first.
FORMATS = {}


def answer_as(prefix, handler):
    FORMATS[prefix] = handler


def _own_format(error):
    for prefix, handler in FORMATS.items():
        if request.path.startswith(prefix):
            return handler(error)
    return None


def _back_url():
    """The page the user came from, when it is a page of this site other than this one."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url) and referrer != request.url:
        return referrer
    return None


def _page(status, back=True, **extra):
    lang = current_language()
    texts = TEXTS.get(lang, TEXTS["zh"])
    title, message = texts.get(status, texts["other"])
    body = render_template("errors/page.html", status=status, lang=lang, texts=texts, title=title,
                           message=message, PLATFORM=PLATFORM, home_url=url_for("admin.index"),
                           back_url=_back_url() if back else None, **extra)
    return body, status


def forbidden(error):
    own = _own_format(error)
    if own is not None:
        return own
    return _page(403)


def not_found(error):
    own = _own_format(error)
    if own is not None:
        return own
    return _page(404)


def server_error(error):
    """Log the exception with a reference and show only the reference."""
    own = _own_format(error)
    if own is not None:
        return own
    now = datetime.datetime.now()
    reference = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    # Flask calls this handler inside its `except`, so logger.exception records the traceback.
    current_app.logger.exception("500 %s: %s %s", reference, request.method, request.path)
    return _page(500, back=False, reference=reference, time=f"{now:%Y-%m-%d %H:%M:%S}")


def other_http_error(error):
    """Any other HTTP error Flask or an extension raises (400, 405, 413...): the same page, its own code.
    A server-side one (5xx) is handled as a 500: no detail shown."""
    own = _own_format(error)
    if own is not None:
        return own
    if error.code is None or error.code >= 500:
        return server_error(error)
    return _page(error.code)


def database_error(error):
    """A write that waited for another one past the budget (models.contention): 503, 系统繁忙，请稍后重试.
    Its transaction never began or was rolled back, so nothing changed.  Any other database error is a 500."""
    own = _own_format(error)
    if own is not None:
        return own
    if not contention.is_busy(error):
        return server_error(error)
    current_app.logger.warning("503 busy: %s %s: %s", request.method, request.path, error)
    body, status = _page(503)
    return body, status, {"Retry-After": "5"}


def init_app(app):
    app.register_error_handler(peewee.OperationalError, database_error)
    app.register_error_handler(HTTPException, other_http_error)
    app.register_error_handler(403, forbidden)
    app.register_error_handler(404, not_found)
    app.register_error_handler(500, server_error)
    # Flask logs an unhandled exception itself just before calling the 500 handler; the handler
    # logs it instead, with the reference the page shows, so each error is logged once.
    app.log_exception = lambda exc_info: None
