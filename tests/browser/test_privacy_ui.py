"""个人数据请求 in a real browser: the admin downloads a customer's data from the details page (XLSX), then
anonymises them by typing the code; a wrong code changes nothing.  Both under the CSP, both audited."""
import datetime
import io

import openpyxl
from playwright.sync_api import expect

from models import AuditLog, Customer
from tests.browser.test_security_csp_ui import _clean, _watch
from tests.browser.test_ui import log_in

ID_NUMBER = "110101199001013333"


def test_admin_exports_and_anonymises_a_customer_from_the_details_page(app, page, live_server, password,
                                                                       make_customer, make_order, shot):
    customer = make_customer(owner="sales1", name="浏览器隐私客户", mobile="13812343333", id_number=ID_NUMBER,
                             consent_purpose="订单服务", consent_at=datetime.date(2024, 2, 1))
    make_order(customer, "1234.50")
    errors = _watch(page)
    log_in(page, live_server, "admin", password)
    page.goto(f"{live_server}/admin/customer/details/?id={customer.id}")
    card = page.locator("#personal-data")
    expect(card).to_contain_text("个人数据请求")
    expect(page.locator("tr", has_text="同意用途")).to_contain_text("订单服务")
    shot("details")

    with page.expect_download() as download_info:
        card.get_by_role("button", name="导出个人数据").click()
    download = download_info.value
    assert download.suggested_filename == f"{customer.code}-个人数据.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read()))
    assert "客户资料" in book.sheetnames and "订单" in book.sheetnames

    card.get_by_label("匿名化不能撤销").fill("不是这个编号")
    card.get_by_role("button", name="匿名化").click()
    expect(page.locator(".alert")).to_contain_text(f"请输入客户编号 {customer.code} 以确认")
    assert Customer.get_by_id(customer.id).name == "浏览器隐私客户"

    page.locator("#personal-data").get_by_label("匿名化不能撤销").fill(customer.code)
    page.locator("#personal-data").get_by_role("button", name="匿名化").click()
    expect(page.locator(".alert-success")).to_contain_text("已匿名化")
    expect(page.locator("tr", has_text="客户名称")).to_contain_text(f"已匿名化客户 {customer.code}")
    expect(page.locator("#anonymised-note")).to_be_visible()
    expect(page.locator("#personal-data-erase")).to_have_count(0)
    assert "13812343333" not in page.content() and "浏览器隐私客户" not in page.content()
    _clean(page, errors, "客户详情")
    shot("anonymised")

    actions = [e.action for e in AuditLog.select().where(AuditLog.action.startswith("personal-data"))]
    assert actions == ["personal-data-export", "personal-data-erase"]
