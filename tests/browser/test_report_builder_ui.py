"""自定义报表 in a real browser: a manager builds a report (行业 × 客户数, 消费额), sees the table and the ECharts
chart, saves it, exports it as CSV and subscribes to it through 报表订阅.  Screenshots go to test-artifacts/."""
import datetime
import io

import openpyxl

from playwright.sync_api import expect

from models import AuditLog, Customer, Order, SavedReport, Subscription, User
from tests.browser.test_ui import log_in

TODAY = datetime.date(2026, 6, 30)


def test_manager_builds_saves_exports_and_subscribes_to_a_report(app, page, live_server, password, shot):
    app.config["REPORT_BUILDER_TODAY"] = TODAY
    users = {u.username: u for u in User.select()}
    User.update(email="sales1@example.com").where(User.username == "sales1").execute()
    amounts = {"互联网": ("12000.00", "3000.50"), "制造": ("8000.00",), "零售": ("1500.00", "2500.00")}
    for number, (industry, orders) in enumerate(amounts.items()):
        customer = Customer.create(code=f"UI{number}", name=f"界面客户{number}", industry=industry, region="华东",
                                   owner=users["sales1" if number % 2 == 0 else "sales2"],
                                   first_contact=datetime.date(2026, 1, 5))
        for serial, amount in enumerate(orders):
            Order.create(customer=customer, order_no=f"UI{number}-{serial}", amount=amount,
                         ordered_at=datetime.datetime(2026, 3 + serial, 10, 10, 0))
    base = live_server
    log_in(page, base, "manager", password)

    page.goto(f"{base}/admin/")
    page.locator("#admin-navbar-collapse").get_by_role("link", name="分析报表").click()
    page.get_by_role("link", name="自定义报表").click()
    expect(page.locator("#rb-empty")).to_be_visible()
    page.locator("#rb-row1").select_option(label="行业")
    page.locator("#rb-m-customers").check()
    page.locator("#rb-m-revenue").check()
    page.locator("#rb-period").select_option("last_12_months")
    page.locator("#rb-run").click()

    table = page.locator("#rb-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("互联网")
    expect(table.locator("tbody tr").first).to_contain_text("¥15,000.50")
    expect(page.locator("#rb-chart")).to_have_attribute("data-rendered", "1")  # ECharts drew it (a pie: a mix)
    shot("built")

    page.locator("#rb-name").fill("行业消费分布")
    page.locator("#rb-shared").check()
    page.locator("#rb-save button[type=submit]").click()
    expect(page.locator(".alert-success").first).to_contain_text("已保存报表“行业消费分布”")
    expect(page.locator("#rb-saved")).to_contain_text("行业消费分布")
    expect(page.locator("#rb-title")).to_have_text("行业消费分布")
    report = SavedReport.get(SavedReport.name == "行业消费分布")
    assert report.owner_id == users["manager"].id and report.shared
    assert report.spec_dict["rows"] == ["industry"] and report.spec_dict["measures"] == ["customers", "revenue"]

    with page.expect_download() as download:
        page.locator("#rb-export-csv").click()
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0] == "行业,客户数,消费额" and "互联网,1,15000.5" in lines
    assert AuditLog.get((AuditLog.model == "customreport") & (AuditLog.action == "export")).rows == 3
    with page.expect_download() as download:
        page.locator("#rb-export-xlsx").click()
    assert download.value.suggested_filename.startswith("行业消费分布-") and download.value.suggested_filename.endswith(
        ".xlsx")
    with open(download.value.path(), "rb") as handle:  # the download's file has no .xlsx name
        sheet = openpyxl.load_workbook(io.BytesIO(handle.read())).worksheets[0]
    cells = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "互联网" in cells and 15000.5 in cells and sheet._charts  # the table and a native chart

    page.locator("#rb-subscribe").click()
    expect(page.locator("#report")).to_have_value("custom")
    expect(page.locator("#parameters")).to_have_value(f"report_id={report.id}")
    page.locator("#schedule_kind").select_option("weekly")
    page.locator("#weekday").select_option("1")
    page.locator("#time").fill("08:00")
    page.locator("#recipient_users").select_option(str(users["sales1"].id))
    shot("subscribe")
    page.locator("input[type=submit][value='保存']").click()
    row = page.locator("table.model-list tbody tr", has_text="行业消费分布")
    expect(row).to_contain_text("每周一 08:00")
    subscription = Subscription.get(Subscription.name == "行业消费分布")
    assert (subscription.report, subscription.params, subscription.user_ids) == (
        "custom", {"report_id": report.id}, [users["sales1"].id])
