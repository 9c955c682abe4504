"""自定义报表 in a real browser: a manager builds a report (行业 × 客户数, 消费额) by dragging fields into the zones
行（维度） and 指标 (reordering, removing, a refused drop), sees the table and the ECharts chart, saves it, exports it
as CSV and Excel, subscribes to it through 报表订阅 (保存报表 and 导出 wait for 生成报表 once the settings differ from
the result shown), and opens a quick report whose fields fill the zones in its
order.  Screenshots go to test-artifacts/."""
import datetime
import io

import openpyxl

from playwright.sync_api import expect

from models import AuditLog, Customer, Order, SavedReport, Subscription, User
from tests.browser.test_security_csp_ui import _clean, _watch
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
    errors = _watch(page)  # the designer's script runs under the CSP: no violation, no console error
    log_in(page, base, "manager", password)

    page.goto(f"{base}/admin/")
    page.locator("#admin-navbar-collapse").get_by_role("link", name="分析报表").click()
    page.get_by_role("link", name="自定义报表").click()
    expect(page.locator("#rb-empty")).to_be_visible()
    rows, measures = page.locator("#rb-rows"), page.locator("#rb-measures")
    rows_zone, measures_zone = page.locator(".rb-zone[data-zone=rows]"), page.locator(".rb-zone[data-zone=measures]")
    rows_said, measures_said = page.locator("#rb-rows-message"), page.locator("#rb-measures-message")

    def field(key):
        return page.locator(f"#rb-fields .rb-field[data-key='{key}']")

    def labels(zone):
        return zone.locator(".rb-chip .rb-chip-label")

    expect(rows_zone.locator(".rb-placeholder")).to_have_text("把维度拖到这里（最多两个）")
    page.locator("#rb-run").click()  # empty zones: said at once, nothing sent
    expect(rows_said).to_have_text("请至少选择一个行维度")
    expect(measures_said).to_have_text("请至少选择一个指标")
    assert "run=1" not in page.url

    field("industry").drag_to(rows_zone)
    field("tier").drag_to(rows_zone)
    expect(labels(rows)).to_have_text(["行业", "客户分层"])
    expect(rows_said).to_be_empty()
    # reorder: 客户分层 dropped on the left half of 行业 goes first, and the form posts it as the first dimension
    rows.locator(".rb-chip").nth(1).drag_to(rows.locator(".rb-chip").nth(0), target_position={"x": 3, "y": 8})
    expect(labels(rows)).to_have_text(["客户分层", "行业"])
    expect(rows.locator("input[name=row1]")).to_have_value("tier")
    expect(rows.locator("input[name=row2]")).to_have_value("industry")
    field("order_month").drag_to(rows_zone)  # a third dimension is refused, with the reason beside the zone
    expect(rows_said).to_have_text("行维度最多选两个：先移除一个，再添加“下单月份”")
    shot("refused")
    field("revenue").drag_to(rows_zone)
    expect(rows_said).to_have_text("“消费额”是指标，请拖到“指标”")
    expect(labels(rows)).to_have_text(["客户分层", "行业"])
    rows.locator(".rb-chip").first.drag_to(page.locator("#rb-fields"))  # dragged out: removed
    expect(labels(rows)).to_have_text(["行业"])
    expect(rows.locator("input[name=row1]")).to_have_value("industry")
    expect(rows.locator("input[name=row2]")).to_have_count(0)

    field("customers").drag_to(measures_zone)
    field("revenue").click()  # a click adds too (keyboard, touch)
    field("orders").drag_to(measures_zone)
    expect(labels(measures)).to_have_text(["客户数", "消费额", "订单数"])
    field("customers").drag_to(measures_zone)
    expect(measures_said).to_have_text("指标不能重复：“客户数”已在指标中")
    measures.locator(".rb-chip[data-key=revenue]").press("ArrowRight")  # the keyboard reorders too
    expect(labels(measures)).to_have_text(["客户数", "订单数", "消费额"])
    expect(measures.locator(".rb-chip[data-key=revenue]")).to_be_focused()
    measures.locator(".rb-chip[data-key=revenue]").press("ArrowLeft")
    expect(labels(measures)).to_have_text(["客户数", "消费额", "订单数"])
    measures.get_by_role("button", name="移除“订单数”").click()
    expect(labels(measures)).to_have_text(["客户数", "消费额"])
    expect(field("orders")).not_to_have_class("rb-used")
    page.locator("#rb-period").select_option("last_12_months")
    page.locator("#rb-run").click()

    table = page.locator("#rb-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("互联网")
    expect(table.locator("tbody tr").first).to_contain_text("¥15,000.50")
    expect(page.locator("#rb-chart")).to_have_attribute("data-rendered", "1")  # ECharts drew it (a pie: a mix)
    _clean(page, errors, "自定义报表")
    shot("built")

    # Settings changed after 生成报表: saving or exporting would hand on the result above as if it were the new
    # settings, so the buttons wait for 生成报表, saying why; put back as generated, they are enabled again.
    stale = page.locator("#rb-stale")
    handing_on = [page.locator(f"#{key}") for key in ("rb-save-button", "rb-export-csv", "rb-export-xlsx",
                                                        "rb-export-pdf")]
    expect(stale).to_be_hidden()

    def waits(changed):
        if changed:
            expect(stale).to_be_visible()
            expect(stale).to_contain_text("设置已更改，请先点击“生成报表”")
        else:
            expect(stale).to_be_hidden()
        for button in handing_on:
            (expect(button).to_be_disabled if changed else expect(button).to_be_enabled)()

    field("orders").drag_to(measures_zone)
    waits(True)
    shot("changed-after-generating")
    measures.get_by_role("button", name="移除“订单数”").click()
    waits(False)
    measures.locator(".rb-chip[data-key=revenue]").press("ArrowLeft")  # the order is the spec's too
    waits(True)
    measures.locator(".rb-chip[data-key=revenue]").press("ArrowRight")
    waits(False)
    page.locator("#rb-period").select_option("this_year")
    waits(True)
    page.locator("#rb-period").select_option("last_12_months")
    page.locator("#rb-f-region").select_option("华东")
    waits(True)
    page.locator("#rb-f-region").select_option("")
    waits(False)

    page.locator("#rb-name").fill("行业消费分布")
    page.locator("#rb-shared").check()
    page.locator("#rb-save button[type=submit]").click()
    expect(page.locator(".alert-success").first).to_contain_text("已保存报表“行业消费分布”")
    expect(page.locator("#rb-saved")).to_contain_text("行业消费分布")
    expect(page.locator("#rb-title")).to_have_text("行业消费分布")
    report = SavedReport.get(SavedReport.name == "行业消费分布")
    assert report.owner_id == users["manager"].id and report.shared
    assert report.spec_dict["rows"] == ["industry"] and report.spec_dict["measures"] == ["customers", "revenue"]
    expect(labels(rows)).to_have_text(["行业"])  # the saved report opens with its fields in the zones
    expect(labels(measures)).to_have_text(["客户数", "消费额"])

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

    # a quick report fills the zones in its own order
    page.goto(f"{base}/admin/reportbuilder/")
    page.locator("#rb-saved").get_by_role("link", name="季度消费趋势").click()
    expect(labels(rows)).to_have_text(["下单季度"])
    expect(labels(measures)).to_have_text(["消费额", "订单数", "客单价"])
    expect(measures.locator("input[name=measures]")).to_have_count(3)
    _clean(page, errors, "快速报表")
