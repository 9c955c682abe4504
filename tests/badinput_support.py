"""Helpers of the bad-input sweep (tests/test_badinput_*.py): the nasty strings, the screens found from the
app itself, forms read from their HTML as a browser would fill them, snapshots of what a request may change,
and the checks for script and formula injection.

Nothing here lists screens by hand: forms are the app's `/new/` and `/edit/` routes under /admin, list and
export views its Flask-Admin model views, so a new screen is swept as soon as it is registered.
"""
import csv
import datetime
import io
import json
import os
import re
from urllib.parse import quote_plus

import openpyxl
from bs4 import BeautifulSoup
from flask_admin.model import BaseModelView
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import models
from demo.fixed import REFERENCE_NOW
from models import AuditLog, Customer, CustomerTag, Feedback, FollowUp, Order, Tag, Task, User

# --- hypothesis profiles: modest and reproducible in CI, HYPOTHESIS_PROFILE=thorough for a long local run ----
# Registered (not loaded: other modules keep their own settings); every sweep takes its settings from `profile`.
settings.register_profile("badinput-ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("badinput-ci"), derandomize=False)
PROFILE = "thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "badinput-ci"
THOROUGH_FACTOR = 20  # the thorough profile draws this many times the CI examples, randomly


def examples(ci):
    """max_examples for one property: `ci` in CI, THOROUGH_FACTOR times that with the thorough profile."""
    return ci * THOROUGH_FACTOR if PROFILE == "thorough" else ci


def profile(ci):
    """The settings of one property: the profile's, with `ci` examples in CI (more when thorough)."""
    return settings(settings.get_profile(PROFILE), max_examples=examples(ci))


# --- nasty input ---------------------------------------------------------------------------
SCRIPT_PROBES = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "</textarea><script>alert(2)</script>",
    "{{7*7}}",
)
FORMULA_PROBES = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "=HYPERLINK(\"http://x\")")
ODD_PROBES = (
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "\u202e反向", "\ufeff", "Ａ全角", "𠮷野家😀", "\x1b[31m", "\x07",
    "9" * 40, "-1", "0", "1e309", "NaN", "-0", "2026-02-30", "0000-00-00", "9999-12-31 25:61", "1900-01-01",
    "2026-13-01", "Robert'); DROP TABLE customer;--", "%", "_", "\\", "../../etc/passwd", "null", "None", "true",
    "长" * 5000, "x" * 70000,
)
NASTY = SCRIPT_PROBES + FORMULA_PROBES + ODD_PROBES

nasty_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),  # any code point, surrogates and controls included
    st.text(min_size=200, max_size=600),
    st.builds(lambda a, b: a + b, st.sampled_from(SCRIPT_PROBES + FORMULA_PROBES), st.text(max_size=8)),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
)

CJK = re.compile(r"[\u4e00-\u9fff]")


def has_chinese(text):
    return bool(CJK.search(text or ""))


def says_chinese(response):
    """A response's message is in Chinese: its HTML or text, or its JSON (which escapes non-ASCII)."""
    if response.mimetype == "application/json":
        return has_chinese(json.dumps(response.get_json(silent=True), ensure_ascii=False))
    return has_chinese(response.get_data().decode("utf-8", "replace"))


# --- screens ---------------------------------------------------------------------------------
def admin_views(app):
    return list(app.extensions["crm_admin"]._views)


def model_views(app):
    return [v for v in admin_views(app) if isinstance(v, BaseModelView)]


def form_routes(app):
    """(endpoint, 'new' | 'edit') of every admin form route, from the URL map."""
    found = []
    for rule in app.url_map.iter_rules():
        match = re.fullmatch(r"/admin/([a-z_]+)/(new|edit)/", rule.rule)
        if match and "POST" in rule.methods:
            found.append((match.group(1), match.group(2)))
    return sorted(set(found))


def get_routes(app):
    """Every GET route under /admin and the site's own pages, with its URL variables (if any)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "static" in rule.rule:
            continue
        if rule.rule in ("/logout", "/lang/<code>"):
            continue
        routes.append(rule.rule)
    return sorted(set(routes))


def post_routes(app):
    """Every POST-only route under /admin (actions, deletes, reveal, toggles, imports, merges...)."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/admin/") and "POST" in rule.methods and "GET" not in rule.methods})


# --- forms as a browser fills them -------------------------------------------------------
class Form:
    """The fields of a page's main POST form (the one carrying a CSRF token), with their current values."""

    def __init__(self, html, action_hint=None):
        doc = BeautifulSoup(html, "html.parser")
        forms = [f for f in doc.find_all("form") if f.find("input", attrs={"name": "csrf_token"})
                 and (f.get("method") or "get").lower() == "post"]
        if action_hint:
            forms = [f for f in forms if action_hint in (f.get("action") or "")] or forms
        forms.sort(key=lambda f: -len(f.find_all(["input", "select", "textarea"])))
        self.form = forms[0] if forms else None
        self.values = []  # (name, value) pairs in document order, as a browser posts them
        self.editable = {}  # name -> kind: text, number, date, select, textarea, checkbox, hidden-ajax
        self.options = {}
        if self.form is None:
            return
        for node in self.form.find_all(["input", "select", "textarea"]):
            name = node.get("name")
            if not name or node.has_attr("disabled"):
                continue
            if node.name == "textarea":
                self.values.append((name, node.get_text()))
                self.editable[name] = "textarea"
            elif node.name == "select":
                options = [o.get("value", o.get_text()) for o in node.find_all("option")]
                self.options[name] = options
                chosen = [o.get("value", o.get_text()) for o in node.find_all("option") if o.has_attr("selected")]
                if not chosen and not node.has_attr("multiple"):
                    chosen = options[:1]
                for value in chosen:
                    self.values.append((name, value))
                self.editable[name] = "select"
            else:
                kind = (node.get("type") or "text").lower()
                if kind in ("submit", "button", "reset", "file", "image"):
                    continue
                if kind in ("checkbox", "radio"):
                    if node.has_attr("checked"):
                        self.values.append((name, node.get("value", "y")))
                    if kind == "checkbox":
                        self.editable.setdefault(name, "checkbox")
                    continue
                self.values.append((name, node.get("value", "")))
                if name == "csrf_token":
                    continue
                if kind == "hidden":
                    if node.get("data-role", "").startswith("select2-ajax"):
                        self.editable[name] = "hidden-ajax"
                    continue
                self.editable[name] = kind

    def with_value(self, name, value):
        """The form's pairs with `name` set to `value` (a checkbox or multi-select: that one value)."""
        pairs = [(n, v) for n, v in self.values if n != name]
        pairs.append((name, value))
        return pairs


def post_pairs(client, url, pairs):
    """POST the pairs urlencoded as UTF-8; a lone surrogate goes out as the bytes a careless client sends
    (invalid UTF-8), which is what the server must survive."""
    body = "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in pairs)
    return client.post(url, data=body.encode("ascii"), content_type="application/x-www-form-urlencoded")


def _quoted(text):
    return quote_plus(str(text).encode("utf-8", "surrogatepass"))


def query_string(params):
    """A query string of (name, value) pairs, lone surrogates as invalid UTF-8 bytes."""
    return "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in params)


def messages_of(html):
    """The error messages a page shows: field errors and flashed alerts."""
    doc = BeautifulSoup(html, "html.parser")
    found = [n.get_text(" ", strip=True) for n in doc.select(
        ".invalid-feedback, .help-block, .form-text.text-danger, .alert-danger, .alert-error, .alert-warning, .text-danger, "
        ".errors li, h1, h1 + p")]
    return [m for m in found if m]


# --- snapshots ---------------------------------------------------------------------------
def snapshot(records=()):
    """Row counts of every table and the columns of the given records."""
    counts = {m._meta.table_name: m.select().count() for m in models.ALL_MODELS}
    rows = {}
    for model, pk in records:
        row = model.get_or_none(model._meta.primary_key == pk)
        rows[(model._meta.table_name, pk)] = None if row is None else dict(row.__data__)
    return counts, rows


def changed(before, after):
    """What differs between two snapshots: {table: (before, after)} and {record: {column: (before, after)}}."""
    counts = {k: (v, after[0].get(k)) for k, v in before[0].items() if after[0].get(k) != v}
    rows = {}
    for key, old in before[1].items():
        new = after[1].get(key)
        if new != old:
            rows[key] = {c: (v, (new or {}).get(c)) for c, v in (old or {}).items() if (new or {}).get(c) != v}
    return {"counts": counts, "rows": rows}


# --- script and formula injection ------------------------------------------------------------
EVENT_ATTRIBUTE = re.compile(r"^on[a-z]+$")


def injected_markup(html):
    """Elements or attributes in an HTML page that came from data: a <script> without the page's nonce (or a
    src on this site), an element with a probe's event handler, a javascript: link.  Returns descriptions."""
    doc = BeautifulSoup(html, "html.parser")
    found = []
    scripts = doc.find_all("script")
    nonces = [script.get("nonce") for script in scripts if script.get("nonce")]
    nonce = max(set(nonces), key=nonces.count) if nonces else None  # the request's: every page script has it
    for script in scripts:
        if script.get("type") in ("application/json", "text/template"):
            continue
        if script.get("nonce") == nonce and nonce is not None:
            continue
        if script.get("src") and not script.get("nonce") and script["src"].startswith("/"):
            continue  # the site's own files
        found.append(f"<script> not the page's own: {str(script)[:120]}")
    for node in doc.find_all(True):
        for attr, value in node.attrs.items():
            if EVENT_ATTRIBUTE.match(attr) and ("alert(" in str(value) or "__xss" in str(value)):
                found.append(f"<{node.name} {attr}={value!r}>")
            if attr in ("href", "src") and isinstance(value, str) and value.strip().lower().startswith("javascript:alert"):
                found.append(f"<{node.name} {attr}={value!r}>")
        if node.name in ("svg", "img") and any(EVENT_ATTRIBUTE.match(a) for a in node.attrs):
            if any("alert" in str(v) for a, v in node.attrs.items() if EVENT_ATTRIBUTE.match(a)):
                found.append(f"<{node.name}> with handler")
    return sorted(set(found))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def runnable_cells_csv(data):
    text = data.decode("utf-8-sig", errors="replace")
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell.startswith(FORMULA_STARTS) and not _plain_number(cell):
                bad.append(cell)
    return bad


def runnable_cells_xlsx(data):
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    bad = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for cell in row:
                if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) and not _plain_number(cell):
                    bad.append(cell)
    return bad


def _plain_number(text):
    """-12.50 or -1,234.00: a negative amount is a number, not a formula a spreadsheet runs."""
    return bool(re.fullmatch(r"-[\d,]+(\.\d+)?", text))


# --- the world every sweep works on ------------------------------------------------------------------
SACRIFICE = "badinput"  # edits of users and roles go to this sweep's own records, never the accounts it logs in with


def build_world(app):
    """Fixed demo data (30 customers, seed 7, demo.fixed.REFERENCE_NOW), status transitions, the demo's report
    subscriptions and a role and user of the sweep's own.  Called in an app context."""
    import demo
    import pipeline
    from demo import report_subscriptions
    from demo.fixed import REFERENCE_NOW
    from tests.conftest import PASSWORD

    demo.generate(customers=30, seed=7, password=PASSWORD, now=REFERENCE_NOW)
    pipeline.seed_transitions()
    report_subscriptions.seed(now=REFERENCE_NOW)
    role = models.Role.create(name=SACRIFICE, label="坏输入测试角色", row_scope="own")
    models.User.create(username=SACRIFICE, display_name="坏输入测试用户", role=role, password_hash="x")


SERIAL = iter(range(1, 10**6))  # numbers that keep planted records apart


def _fits(model, column, text, empty="空"):
    """`text` as the app's own paths can store it in the column: cut to its length, without NUL (no request or
    import lets one in: web/nul_guard.py; PostgreSQL cannot store it) and with lone surrogates as U+FFFD (what
    a request's invalid UTF-8 decodes to)."""
    text = text.replace("\x00", "").encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    limit = getattr(model._meta.fields[column], "max_length", None)
    return (text[:limit] if limit else text) or empty


def plant(payload, owner="sales1"):
    """The payload in every text a person can type about one customer, as the app's own paths store it
    (called in an app context); returns the customer."""
    users = {u.username: u for u in User.select()}
    n = next(SERIAL)
    customer = Customer.create(name=_fits(Customer, "name", payload), contact=_fits(Customer, "contact", payload),
                               address=_fits(Customer, "address", payload), needs=_fits(Customer, "needs", payload),
                               notes=_fits(Customer, "notes", payload), email=f"bad{n}@example.com",
                               mobile=f"1390000{n:04d}", owner=users[owner], region="华北", industry="互联网",
                               customer_type="企业", first_contact=datetime.date(2024, 3, 1))
    # a probable duplicate of it (same name and mobile) for 重复客户
    Customer.create(name=customer.name, mobile=customer.mobile, owner=users[owner], region="华北")
    follow = FollowUp.create(record_no=f"BAD{n:08d}", customer=customer, at=REFERENCE_NOW - datetime.timedelta(days=2),
                             method="电话", content=_fits(FollowUp, "content", payload),
                             next_date=REFERENCE_NOW.date() + datetime.timedelta(days=1), user=users[owner])
    Order.create(customer=customer, order_no=f"BAD{n:08d}", ordered_at=REFERENCE_NOW - datetime.timedelta(days=3),
                 amount="1280.00", quantity=1, product=_fits(Order, "product", payload),
                 channel=_fits(Order, "channel", payload))
    Feedback.create(customer=customer, kind="投诉", content=_fits(Feedback, "content", payload), created_at=REFERENCE_NOW)
    tag = Tag.create(name=_fits(Tag, "name", payload)[:30] + f"#{n}", category="行为")
    CustomerTag.create(customer=customer, tag=tag)
    Task.create(customer=customer, assignee=users[owner], title=_fits(Task, "title", payload), origin="followup",
                followup=follow, due_on=REFERENCE_NOW.date(), since=REFERENCE_NOW, created_by="followup",
                open_key=f"bad-{n}")
    clean = _fits(AuditLog, "changes", payload)
    AuditLog.create(username=_fits(AuditLog, "username", payload), action="update", model="customer",
                    record_id=str(customer.id), at=REFERENCE_NOW,
                    changes=json.dumps({"name": [clean, "x"], "notes": [None, clean]}, ensure_ascii=False))
    return customer
