"""Security headers on every response, and the per-request nonce that lets our own inline scripts run.

The Content-Security-Policy allows scripts from this site and inline <script> blocks that carry this
request's nonce (Flask-Admin's templates get it through Admin(csp_nonce_generator=csp_nonce), ours write
nonce="{{ csp_nonce() }}"); nothing else executes: no inline event handlers, no javascript: links, no
eval. The inline handlers that Flask-Admin's and some of our templates still write (onclick="return
false;", onchange="this.form.submit()", onsubmit="return confirm(...)") are taken over before they
run by static/csp-handlers.js, loaded by the admin's base template. Styles may be inline (Bootstrap,
ECharts and Flask-Admin's widgets set style attributes). A response that set its own policy (the
report and mail previews, stricter still) keeps it.
"""
import secrets

from flask import g

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'nonce-{nonce}'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def csp_nonce():
    """This request's nonce (one per request, made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def add_headers(response):
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = CSP.format(nonce=csp_nonce())
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app):
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
