"""Helpers for the access-policy tests: reading admin pages and exports, submitting forms as a browser does.

Nothing here knows the policy: the tests derive what to expect from the live grant and the
view declarations in `admin.SCREENS`; these helpers only turn responses into plain data.
"""
import csv
import datetime
import decimal
import io
import re

import openpyxl
from bs4 import BeautifulSoup

import models
from tests.conftest import PASSWORD, build_app  # noqa: F401 (re-exported for the policy tests)

DETAILS_ID_RE = re.compile(r"/details/\?id=(\d+)")


# --- app -------------------------------------------------------------------------------
def login_client(app, username, password=PASSWORD):
    client = app.test_client()
    response = client.submit("/login", {"username": username, "password": password})
    assert response.status_code == 302 and "/login" not in response.location, f"login of {username} failed"
    return client


def any_csrf_token(client):
    """A CSRF token of the client's session; SecureForm tokens are not bound to one form."""
    return client.csrf_token("/password")


# --- HTML -------------------------------------------------------------------------------
def soup(html):
    return BeautifulSoup(html, "html.parser")


def text_of(node):
    return " ".join(node.get_text(" ", strip=True).split()) if node is not None else None


class ListPage:
    """An admin list page: column headers (by field name) and rows (by record id)."""

    def __init__(self, html):
        self.html = html
        doc = soup(html)
        table = doc.select_one("table.model-list")
        assert table is not None, "no list table on the page"
        self.headers = {}  # column -> header label
        self.sortable = set()
        for th in table.select("th.column-header"):
            column = next(c[4:] for c in th["class"] if c.startswith("col-"))
            self.headers[column] = text_of(th)
            if th.find("a", href=re.compile(r"[?&]sort=")):
                self.sortable.add(column)
        self.rows = {}  # id -> {column: text}
        self.order = []
        for tr in table.find_all("tr"):
            cells = tr.select("td[class^=col-]")
            if not cells:
                continue
            link = tr.find("a", href=DETAILS_ID_RE)
            checkbox = tr.find("input", attrs={"name": "rowid"})
            if link is not None:
                record_id = int(DETAILS_ID_RE.search(link["href"]).group(1))
            elif checkbox is not None:
                record_id = int(checkbox["value"])
            else:
                continue
            self.rows[record_id] = {
                next(c[4:] for c in td["class"] if c.startswith("col-")): text_of(td) for td in cells
            }
            self.order.append(record_id)
        self.filters = [text_of(a) for a in doc.select("a.filter")]  # labels offered in "add filter"

    @property
    def ids(self):
        return set(self.rows)


def details_table(html):
    """Label -> value text of the details table."""
    table = soup(html).select_one("table.searchable")
    assert table is not None, "no details table on the page"
    result = {}
    for tr in table.find_all("tr"):
        cells = tr.find_all("td")
        if len(cells) == 2:
            result[text_of(cells[0])] = text_of(cells[1])
    return result


def fixed_values(html):
    """Label -> value of the read-only table shown above an edit form (may be empty)."""
    table = soup(html).select_one("table#fixed-values")
    if table is None:
        return {}
    return {text_of(tr.find("th")): text_of(tr.find("td")) for tr in table.find_all("tr")}


def related_section(html, endpoint):
    """A related table on the customer details page: (labels, [row values]) or None when absent."""
    doc = soup(html)
    heading = doc.find("h4", id=f"related-{endpoint}")
    if heading is None:
        return None
    table = heading.find_next_sibling(["table", "p", "h4"])
    if table is None or table.name != "table":
        return [], []
    labels = [text_of(th) for th in table.select("thead th")]
    rows = [[text_of(td) for td in tr.find_all("td")] for tr in table.select("tbody tr")]
    return labels, rows


def admin_form(html):
    return soup(html).select_one("form.admin-form")


def form_field_names(html):
    """Names of the data fields of the admin form (no CSRF token, no buttons)."""
    form = admin_form(html)
    if form is None:
        return set()
    names = set()
    for node in form.find_all(["input", "select", "textarea"]):
        name = node.get("name")
        if not name or name == "csrf_token" or node.get("type") in ("submit", "button", "reset"):
            continue
        names.add(name)
    return names


def form_values(html):
    """What a browser would submit for the admin form, as a dict of name -> value or list of values."""
    form = admin_form(html)
    assert form is not None, "no admin form on the page"
    data = {}

    def put(name, value):
        if name in data:
            current = data[name]
            data[name] = (current if isinstance(current, list) else [current]) + [value]
        else:
            data[name] = value

    for node in form.find_all(["input", "select", "textarea"]):
        name = node.get("name")
        if not name:
            continue
        if node.name == "input":
            kind = (node.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "file", "image"):
                continue
            if kind in ("checkbox", "radio"):
                if node.has_attr("checked"):
                    put(name, node.get("value", "on"))
                continue
            put(name, node.get("value", ""))
        elif node.name == "select":
            options = node.find_all("option")
            chosen = [o for o in options if o.has_attr("selected")]
            if not chosen and options and not node.has_attr("multiple"):
                chosen = options[:1]
            for option in chosen:
                put(name, option.get("value", option.get_text()))
        else:
            value = node.get_text()
            put(name, value[1:] if value.startswith("\n") else value)
    return data


def submit_form(client, url, changes=None, drop=()):
    """GET the form at url, apply changes (name -> value; None removes), POST it back to url."""
    page = client.get(url)
    assert page.status_code == 200, f"form {url} answered {page.status_code}"
    data = form_values(page.get_data(as_text=True))
    for name in drop:
        data.pop(name, None)
    for name, value in (changes or {}).items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(url, data=data)


def flashed_errors(html):
    """Text of error messages on a page (flash messages and field errors)."""
    doc = soup(html)
    nodes = doc.select(".alert-danger, .alert-error, .invalid-feedback, .help-block, .form-text.text-danger")
    return [text_of(n) for n in nodes if text_of(n)]


# --- exports ----------------------------------------------------------------------------
def csv_table(response):
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    rows = [r for r in rows if r]
    assert rows, "empty CSV export"
    return rows[0], rows[1:]


def xlsx_table(response):
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
    sheet = book.active
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    rows = [r for r in rows if any(r)]
    assert rows, "empty XLSX export"
    return rows[0], rows[1:]


# --- values -----------------------------------------------------------------------------
def plain(value):
    """A stored value in the form Flask-Admin renders it as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, models.BaseModel):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, decimal.Decimal, int, float)):
        return str(value)
    return " ".join(str(value).split())


def stored(model, record_id, column):
    """The value of `column` as stored now (foreign keys as ids); None when the row is gone."""
    row = model.get_or_none(model._meta.primary_key == record_id)
    if row is None:
        return None
    return row.__data__.get(column)
