"""Exports people hand on (exports/): a Handout as XLSX and PDF, and a notebook report's run downloaded
from the admin as PDF and Excel, audited with its rows, refused to a role without the export right.

PDFs are printed for real by Chromium (the default engine) and read back with pypdf; the report run
is a real papermill run of tests/data/handout.ipynb, made once for the module (a kernel costs seconds).
"""
import datetime
import io
import os

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

import exports
import models
import reporting
from exports import Chart, Column, Handout, Table
from models import AuditLog, ReportRun
from tests.conftest import PASSWORD, ROLE_USERS, build_app

NOTEBOOK = os.path.join(os.path.dirname(__file__), "data", "handout.ipynb")
RUNS = "/admin/reportrun/"


def handout(rows=5):
    detail = Table([Column("code", "客户编号"), Column("name", "客户名称"), Column("spend", "消费额", "money"),
                    Column("at", "最后下单", "date")],
                   [[f"KH{n:05d}", "=HYPERLINK(\"http://x\")" if n == 1 else f"客户{n}号", 1000 + n + 0.5,
                     datetime.date(2026, 1, 1) + datetime.timedelta(days=n % 300)] for n in range(rows)],
                   title="客户明细")
    summary = Table([Column("industry", "行业"), Column("customers", "客户数", "count"),
                     Column("spend", "消费额", "money"), Column("share", "占比", "percent")],
                    [{"industry": "互联网", "customers": 1200, "spend": 1234567.5, "share": 0.6},
                     {"industry": "+制造业", "customers": 800, "spend": 823045.0, "share": 0.4}])
    return Handout("行业分布报表", summary, Chart("bar", "industry", ["spend"]), detail,
                   notes=["统计期间：2026-01-01 至 2026-11-30"])


def test_the_workbook_has_the_summary_with_a_chart_and_the_rows_on_a_second_sheet():
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(handout(rows=40))))
    assert book.sheetnames == ["汇总", "明细"]
    summary, detail = book["汇总"], book["明细"]
    assert summary["A1"].value == "行业分布报表" and summary["A2"].value == "统计期间：2026-01-01 至 2026-11-30"
    assert [c.value for c in summary[4]] == ["行业", "客户数", "消费额", "占比"]
    assert [c.value for c in summary[5]] == ["互联网", 1200, 1234567.5, 0.6]
    assert summary["A6"].value == "'+制造业"  # the one formula guard of every export
    assert summary["C5"].number_format == '"¥"#,##0.00' and summary["D5"].number_format == "0.0%"
    assert summary["B5"].number_format == "#,##0"
    assert len(summary._charts) == 1 and summary._charts[0].tagname == "barChart"
    assert [c.value for c in detail[1]] == ["客户编号", "客户名称", "消费额", "最后下单"]
    assert detail.max_row == 41 and detail["A41"].value == "KH00039" and detail["C41"].value == 1039.5
    assert detail["B3"].value == "'=HYPERLINK(\"http://x\")" and detail["C2"].number_format == '"¥"#,##0.00'
    assert detail["D2"].value == datetime.datetime(2026, 1, 1)
    assert handout(rows=40).row_count == 42


def test_a_handout_refuses_a_chart_of_text():
    with pytest.raises(ValueError, match="不是数值"):
        Handout("x", handout().summary, Chart("pie", "industry", ["industry"]))


def page_texts(data):
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def test_the_pdf_of_a_long_table_runs_over_pages_each_with_the_header():
    pages = page_texts(exports.pdf_bytes(handout(rows=160)))
    assert len(pages) > 2
    assert "行业分布报表" in pages[0] and "¥1,234,567.50" in pages[0] and "60.0%" in pages[0]
    for text in pages[1:]:  # the detail table's header repeats at the top of every page it runs onto
        assert "客户编号" in text and "最后下单" in text
        assert f"共 {len(pages)} 页" in text
    everything = "\n".join(pages)
    for n in (0, 80, 159):  # no row lost between pages
        assert f"KH{n:05d}" in everything
    assert "¥1,159.50" in everything


def test_a_pdf_prints_from_inside_a_running_event_loop():
    """Playwright's sync API will not start on a thread whose asyncio loop runs (an async server; a test session
    with pytest-playwright's browser open, as in CI after tests/browser/): the PDF is printed on a thread of
    its own, so a caller with a running loop still gets its pages."""
    import asyncio
    import threading

    async def inside_a_loop():
        return exports.pdf_bytes(handout(rows=3))

    # on a thread of the test's own, with its own running loop: the main thread may have one already (the
    # very case, in a full run), where asyncio.run itself would refuse to start
    printed = {}
    thread = threading.Thread(target=lambda: printed.update(pdf=asyncio.run(inside_a_loop())))
    thread.start()
    thread.join()
    pages = page_texts(printed["pdf"])
    assert "行业分布报表" in pages[0] and "KH00002" in "\n".join(pages)


# --- a notebook report's run, downloaded from the admin -----------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An app with one finished run of tests/data/handout.ipynb by admin."""
    folder = tmp_path_factory.mktemp("exports")
    application = build_app(folder)
    original = reporting.runner.OUT_DIR
    reporting.runner.OUT_DIR = str(folder / "reports_out")
    reporting.register("handout", NOTEBOOK, "导出测试报表")
    try:
        with application.app_context():
            admin = models.User.get(models.User.username == "admin")
            run = reporting.runner.run_report("handout", user=admin, config=application.config)
            assert run.status == "success", run.error
        yield application, run
    finally:
        reporting.unregister("handout")
        reporting.runner.OUT_DIR = original
        models.db.close()
        models.db.close_all()


def signed_in(application, role):
    client = application.test_client()
    response = client.submit("/login", {"username": ROLE_USERS[role], "password": PASSWORD})
    assert response.status_code == 302 and "/login" not in response.location
    return client


def exports_of(run):
    return list(AuditLog.select().where((AuditLog.action == "export") & (AuditLog.model == "reportrun")
                                        & (AuditLog.record_id == str(run.id))).order_by(AuditLog.id))


def test_a_run_downloads_as_pdf_and_excel_audited_with_its_rows(site):
    application, run = site
    admin = signed_in(application, "admin")
    details = admin.get(f"{RUNS}details/?id={run.id}").get_data(as_text=True)
    assert 'id="download-pdf"' in details and 'id="download-xlsx"' in details

    response = admin.get(f"{RUNS}pdf/?id={run.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pages = page_texts(response.data)
    assert len(pages) > 1
    assert "导出测试报表" in pages[0] and "¥1,234,567.50" in pages[0] and "KH00000" in "\n".join(pages)
    assert "KH00149" in "\n".join(pages)
    assert all("客户编号" in text for text in pages[1:])  # the long list's header on every page it runs onto

    response = admin.get(f"{RUNS}xlsx/?id={run.id}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["汇总", "客户清单"]
    summary = book["汇总"]
    assert summary["A1"].value == "导出测试报表"
    header = next(row for row in summary.iter_rows() if row[0].value == "行业")
    assert [c.value for c in header[:4]] == ["行业", "客户数", "收入", "收入占比"]
    first = summary[header[0].row + 1]
    assert [c.value for c in first[:4]] == ["互联网", 1234, 1234567.5, 0.5]
    assert first[2].number_format == '"¥"#,##0.00' and first[3].number_format == "0.0%"
    assert summary.cell(row=header[0].row + 3, column=1).value == "'=1+1"
    assert len(summary._images) == 1  # the key chart
    assert book["客户清单"].max_row == 3 + 150

    with application.app_context():
        entries = exports_of(run)
    assert [(e.username, e.rows) for e in entries] == [("admin", 153), ("admin", 153)]
    assert ['"format": "pdf"' in e.changes for e in entries] == [True, False]


def test_a_role_without_the_export_right_gets_403_and_nothing_is_audited(site):
    application, run = site
    with application.app_context():
        before = len(exports_of(run))
    sales = signed_in(application, "sales")  # 销售代表: reportrun view create, no export
    for kind in ("pdf", "xlsx"):
        assert sales.get(f"{RUNS}{kind}/?id={run.id}").status_code == 403
    manager = signed_in(application, "manager")  # may export, but admin's run is outside the team's runs
    assert manager.get(f"{RUNS}pdf/?id={run.id}").status_code == 404
    with application.app_context():
        assert len(exports_of(run)) == before


def test_a_pdf_that_cannot_be_printed_is_a_message_not_an_error(site, monkeypatch):
    from exports import engines

    application, run = site
    monkeypatch.setattr(engines, "CHROMIUM", "/nonexistent/chromium")
    with application.app_context():
        before = len(exports_of(run))
    admin = signed_in(application, "admin")
    response = admin.get(f"{RUNS}pdf/?id={run.id}")
    assert response.status_code == 302 and response.location.endswith(f"details/?id={run.id}")
    page = admin.get(response.location).get_data(as_text=True)
    assert "无法生成 PDF：找不到 Chromium（/nonexistent/chromium）" in page
    with application.app_context():
        assert len(exports_of(run)) == before


def test_a_report_mail_carries_the_pdf_when_the_setting_asks(site):
    from delivery import report_mail, settings

    assert settings.from_env({"MAIL_ATTACH_PDF": "1"}).attach_pdf is True
    assert settings.from_env({}).attach_pdf is False
    with pytest.raises(settings.SettingsError, match="MAIL_ATTACH_PDF"):
        settings.from_env({"MAIL_ATTACH_PDF": "sometimes"})
    application, run = site
    with application.app_context():
        message = report_mail.compose(run, ["经理 <manager@example.com>"], "平台 <reports@example.com>", pdf=True)
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    names = sorted(attached)
    assert [name.rsplit(".", 1)[1] for name in names] == ["html", "pdf"]
    pdf = next(part for name, part in attached.items() if name.endswith(".pdf"))
    assert pdf.get_content_type() == "application/pdf"
    assert "导出测试报表" in page_texts(pdf.get_content())[0]
