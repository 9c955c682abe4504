"""Bad input, script and formula injection (issue 12 part 7): nasty strings stored through the models' own API
(an import of customers through the intake engine, records made as the admin's forms and the sweeps make them)
are shown as text everywhere:

- no unescaped <script> or event-handler attribute from the data on any HTML page of the admin (every GET page
  from the URL map: lists, details, edit forms, dashboard, 我的任务, 审计日志, 重复客户, 数据质量, funnel...), for
  each role (JSON such as the dashboard's data is data: its page escapes it, tests/browser/test_badinput_ui.py), nor
  in a report's tables (analytics.tables, what the notebooks display) or a
  report mail (delivery.report_mail);
- no cell a spreadsheet would run (= + - @, a leading tab or CR) in any CSV or XLSX export of any list, nor in
  the import's rejected-rows file; every export path goes through intake.files.spreadsheet_safe.

Hypothesis draws the payloads on top of the fixed probes (derandomized; HYPOTHESIS_PROFILE=thorough for a long
run).  Fixed dates.  SQLite and PostgreSQL (DATABASE_URL)."""
import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

import intake
import models
from demo.fixed import REFERENCE_NOW
from models import Customer
from tests import badinput_support as bs
from tests import policy_support as ps
from tests.conftest import ROLE_USERS

PROBES = bs.SCRIPT_PROBES + bs.FORMULA_PROBES + ("=1+1\x1b", "@cmd\x07")
DAY = REFERENCE_NOW.date()
_serial = bs.SERIAL


def import_customers(payload, tmp_path):
    """The payload as a customer's name, contact and notes in a CSV imported through the engine."""
    path = tmp_path / "bad.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["客户名称", "联系人", "手机号码", "备注", "负责人"])
    n = next(_serial)
    writer.writerow([payload or "空", payload[:40], f"1370000{n:04d}", payload, "sales1"])
    path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
    try:
        return intake.import_file(str(path), "customers", errors_to=str(tmp_path / "rejected.xlsx"))
    except intake.ImportRefused:
        return None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("badinput-injection")
    app = ps.build_app(tmp_path)
    with app.app_context():
        bs.build_world(app)
        for probe in PROBES:
            bs.plant(probe)
        for probe in (bs.SCRIPT_PROBES[1], bs.FORMULA_PROBES[0]):  # the import path (slower: its after-import sweeps)
            import_customers(probe, tmp_path)
        import dashboard

        dashboard.refresh(DAY, trigger="test", now=REFERENCE_NOW)
    clients = {role: ps.login_client(app, user) for role, user in ROLE_USERS.items()}
    yield app, clients, tmp_path
    models.db.close()


def _pages(app):
    return [rule for rule in bs.get_routes(app) if rule.startswith("/admin") and "<" not in rule] + ["/"]


def _details_pages(app):
    """Details and edit pages of the newest records of every model view: the planted ones (made last)."""
    found = []
    with app.app_context():
        for view in bs.model_views(app):
            key = view.model._meta.primary_key
            for (record,) in view.model.select(key).order_by(key.desc()).limit(2).tuples():
                found += [f"/admin/{view.endpoint}/details/?id={record}", f"/admin/{view.endpoint}/edit/?id={record}"]
    return found


def _assert_no_markup(client, url):
    """No markup from the data on the page; True if the page shows a planted probe (escaped)."""
    response = client.get(url)
    assert response.status_code < 500, url
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        found = bs.injected_markup(html)
        assert not found, f"{url} shows data as markup: {found}"
        return "alert(1)" in html
    return False


def _assert_exports_safe(app, client):
    for view in bs.model_views(app):
        for kind in ("csv", "xlsx"):
            response = client.get(f"/admin/{view.endpoint}/export/{kind}/")
            if response.status_code != 200 or response.mimetype == "text/html":
                continue
            cells = bs.runnable_cells_csv(response.data) if kind == "csv" else bs.runnable_cells_xlsx(response.data)
            assert not cells, f"{view.endpoint} {kind} export has cells a spreadsheet runs: {cells[:5]}"


@pytest.mark.parametrize("role", tuple(ROLE_USERS))
def test_no_page_shows_stored_data_as_markup(world, role):
    app, clients, _tmp = world
    client = clients[role]
    # the records' own pages for the widest and the narrowest scope; every screen for each role
    records = _details_pages(app) if role in ("admin", "sales") else []
    shown = [url for url in _pages(app) + records if _assert_no_markup(client, url)]
    # the probes are on the pages (as text), so the check above had something to find
    assert any("/admin/customer/details/" in url for url in shown) or not records, shown
    assert "/admin/followup/" in shown and "/admin/tasks/" in shown or role == "service", shown


@pytest.mark.parametrize("role", ("admin", "manager"))
def test_no_export_cell_runs_as_a_formula(world, role):
    app, clients, _tmp = world
    _assert_exports_safe(app, clients[role])


def test_reports_and_mails_show_names_as_text(world):
    """What the report notebooks display (analytics.tables.show of a frame of customers) and a report mail's
    body (delivery.report_mail.render_html with the names among its key numbers) escape every probe."""
    import pandas as pd

    from analytics import tables
    from delivery import report_mail

    app, _clients, _tmp = world
    with app.app_context():
        names = [c.name for c in Customer.select().order_by(Customer.id)]
    frame = pd.DataFrame({"客户名称": names, "金额": range(len(names))})
    html = tables.show(frame, money=("金额",))._repr_html_()
    assert not bs.injected_markup(html) and "<script" not in html
    summary = [(name, name) for name in names[:10]]
    mail = report_mail.render_html(names[0], summary, [("客户", n) for n in names[:10]], names[1] + ".html")
    assert not bs.injected_markup(mail) and "<script" not in mail


payloads = st.one_of(st.sampled_from(PROBES), st.builds(lambda p, t: p + t, st.sampled_from(PROBES), bs.nasty_text),
                     bs.nasty_text)


@bs.profile(4)
@given(payload=payloads)
def test_any_payload_stays_text_in_lists_details_and_exports(world, payload):
    app, clients, tmp_path = world
    with app.app_context():
        customer = bs.plant(payload)
        import_customers(payload, tmp_path)
    client = clients["sales"]
    for url in ("/admin/customer/", f"/admin/customer/details/?id={customer.id}", f"/admin/customer/edit/?id={customer.id}",
                "/admin/followup/", "/admin/tasks/", "/admin/duplicates/", "/admin/quality/"):
        _assert_no_markup(client, url)
    _assert_no_markup(clients["admin"], "/admin/auditlog/")
    for endpoint in ("customer", "followup", "auditlog"):
        for kind in ("csv", "xlsx"):
            response = clients["admin"].get(f"/admin/{endpoint}/export/{kind}/")
            assert response.status_code == 200, (endpoint, kind, response.status_code)
            cells = bs.runnable_cells_csv(response.data) if kind == "csv" else bs.runnable_cells_xlsx(response.data)
            assert not cells, f"{endpoint} {kind} export: {cells[:5]}"
