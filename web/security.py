"""Security headers on every response, and the per-request nonce that lets our own inline scripts run.

The Content-Security-Policy allows scripts from this site and inline <script> blocks that carry this
request's nonce (Flask-Admin's templates get it through Admin(csp_nonce_generator=csp_nonce), ours write
nonce="{{ csp_nonce() }}"). Flask-Admin's templates (and a few of ours) also write inline event handlers
(onclick="return false;", "faForm.addInlineField(this, 'permissions');", "return confirm('...');"):
an HTML page's handlers that match one of the harmless SAFE_HANDLERS forms are allowed by their hash
('unsafe-hashes' 'sha256-...'), computed from the page itself; any other inline handler, an injected one
included, is refused by the browser. javascript: links never run (static/csp-handlers.js keeps the
placeholders from navigating). Styles may be inline (Bootstrap, ECharts and Flask-Admin's widgets set
style attributes). A response that set its own policy (the report and mail previews, stricter) keeps it.
"""
import base64
import hashlib
import html
import re
import secrets

from flask import g

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'nonce-{nonce}'{hashes}",
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


# The inline handler bodies allowed by hash: fixed behaviour, at most a quoted text or a field name.
_TEXT = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
SAFE_HANDLERS = re.compile("|".join([
    r"return false;?",
    r"this\.form\.submit\(\);?",
    r"return (?:confirm|faHelpers\.safeConfirm)\(" + _TEXT + r"\);?",
    r"faForm\.addInlineField\(this, '[A-Za-z0-9_-]+'\);?",
    r"return modelActions\.execute\('[A-Za-z0-9_]+'\);?",
]))
_HANDLER_ATTRIBUTE = re.compile(r"""\son(?:click|change|submit)=(?:"([^"]*)"|'([^']*)')""")


def handler_hashes(page):
    """The CSP hash sources of the page's inline handlers that are one of SAFE_HANDLERS, sorted."""
    found = set()
    for double, single in _HANDLER_ATTRIBUTE.findall(page):
        body = html.unescape(double or single)
        if SAFE_HANDLERS.fullmatch(body.strip()):
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
            found.add(f"'sha256-{digest}'")
    return sorted(found)


def csp_nonce():
    """This request's nonce (one per request, made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def add_headers(response):
    if "Content-Security-Policy" not in response.headers:
        hashes = ""
        if response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed:
            found = handler_hashes(response.get_data(as_text=True))
            if found:
                hashes = " 'unsafe-hashes' " + " ".join(found)
        response.headers["Content-Security-Policy"] = CSP.format(nonce=csp_nonce(), hashes=hashes)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def trust_proxies(app):
    """Behind TRUSTED_PROXY_HOPS reverse proxies, the client's address and scheme are the ones the proxies
    tell (the last `hops` entries of X-Forwarded-For / -Proto, werkzeug's ProxyFix): the per-address login
    lockout and the audit log's ip then see the real client, not the proxy, which would lock everyone out
    together.  With 0 (the default) the headers are ignored: anyone could write them, choose any address
    and dodge the per-address lockout."""
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def init_app(app):
    trust_proxies(app)
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
