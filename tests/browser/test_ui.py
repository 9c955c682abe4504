"""The customer screens in a real browser (Debian's Chromium through Playwright).

Issue scenario: log in as sales1, see only own customers, create one with a bad mobile
and see the error, fix it and save; log in as service and see masked mobiles and no
spend columns.  Screenshots of the key steps go to test-artifacts/.
"""
import datetime
import re

from playwright.sync_api import expect

import models

NEW_NAME = "浏览器新建客户有限公司"
NEW_MOBILE_TYPED = "+86 138-0013-8000"
NEW_MOBILE = "13800138000"
MOBILE_ERROR = "手机号码格式不正确"


def log_in(page, base, username, password):
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(re.compile(r"/login\b"))  # not logged in: sent to the login page
    page.locator("#login-form [name=username]").fill(username)
    page.locator("#login-form [name=password]").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/admin/")
    expect(page.locator("#current-user")).to_be_visible()


def log_out(page, base):
    page.get_by_role("link", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login\b"))
    page.goto(f"{base}/admin/customer/")
    expect(page).to_have_url(re.compile(r"/login\b"))  # the session is really gone


def save(page):
    """Press 保存 as a user would; fail clearly if the browser's own validation blocks the form."""
    form = page.locator("form.admin-form")
    blocked = form.evaluate(
        "f => Array.from(f.elements)"
        ".filter(e => e.willValidate && !e.checkValidity())"
        ".map(e => `${e.name}: ${e.validationMessage}`)"
    )
    assert not blocked, f"the browser will not submit the form (HTML validation): {blocked}"
    with page.expect_navigation():
        form.get_by_role("button", name="保存", exact=True).click()


def list_table(page):
    table = page.locator("table.model-list")
    expect(table).to_be_visible()
    return table


def test_sales_creates_customer_service_sees_masked_values(
    page, live_server, password, make_customer, make_order, shot
):
    base = live_server
    own = [
        make_customer(owner="sales1", name="浏览器甲科技", mobile="13911110001", annual_revenue="8800000"),
        make_customer(owner="sales1", name="浏览器乙商贸", mobile="13911110002"),
    ]
    other = make_customer(owner="sales2", name="他人丙实业", mobile="13922220003")
    order = make_order(own[0], amount="98765.43")
    customers_before = models.Customer.select().count()

    # --- sales1: own customers only --------------------------------------------------
    log_in(page, base, "sales1", password)
    page.goto(f"{base}/admin/customer/")
    table = list_table(page)
    for customer in own:
        expect(table).to_contain_text(customer.name)
        expect(table).to_contain_text(customer.mobile)  # sales sees own customers' numbers in full
    expect(table).not_to_contain_text(other.name)
    assert other.name not in page.content() and other.mobile not in page.content()
    expect(table.locator("thead")).to_contain_text("年营收")  # the revenue column exists for sales
    expect(table.locator("tbody tr", has_text=own[0].name)).to_contain_text("¥8,800,000.00")
    shot("sales1-customers")

    # --- create with a bad mobile: error next to the field, nothing saved -------------
    page.get_by_role("link", name="创建", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/customer/new/"))
    page.locator("#name").fill(NEW_NAME)
    page.locator("#customer_type").select_option("企业")
    page.locator("#region").select_option("华北")
    page.locator("#industry").select_option("互联网")
    page.locator("#mobile").fill("12345")
    # 客户编号 stays empty: the form says it is then generated (区域-行业-年份-序号), so the
    # browser must let the form go without it (no HTML `required` on #code).
    save(page)
    expect(page).to_have_url(re.compile(r"/admin/customer/new/"))
    mobile_group = page.locator(".form-group", has=page.locator("#mobile"))
    expect(mobile_group).to_contain_text(MOBILE_ERROR)
    expect(page.locator("#name")).to_have_value(NEW_NAME)  # what the user typed is kept
    shot("sales1-bad-mobile")
    assert models.Customer.select().count() == customers_before
    assert not models.Customer.select().where(models.Customer.name == NEW_NAME).exists()

    # --- fix the mobile and save ------------------------------------------------------
    page.locator("#mobile").fill(NEW_MOBILE_TYPED)
    opened = datetime.date.today()
    save(page)
    expect(page).to_have_url(re.compile(r"/admin/customer/(\?.*)?$"))
    table = list_table(page)
    expect(table).to_contain_text(NEW_NAME)
    created = models.Customer.get(models.Customer.name == NEW_NAME)
    assert created.mobile == NEW_MOBILE
    assert created.owner.username == "sales1"
    assert created.region == "华北" and created.industry == "互联网" and created.customer_type == "企业"
    # The code carries the year it was made in: today's, or the one before if the year turned meanwhile.
    assert created.code in {f"HB-IT-{opened.year}-001", f"HB-IT-{datetime.date.today().year}-001"}
    assert models.Customer.select().count() == customers_before + 1
    row = table.locator("tbody tr", has_text=NEW_NAME)
    expect(row).to_contain_text(created.code)
    expect(row).to_contain_text(NEW_MOBILE)
    shot("sales1-saved")

    page.goto(f"{base}/admin/order/")
    expect(list_table(page).locator("thead")).to_contain_text("金额")  # sales may see order amounts
    expect(list_table(page)).to_contain_text(order.order_no)

    # --- service: every customer, mobiles masked, no revenue column -------------------
    log_out(page, base)
    log_in(page, base, "service", password)
    page.goto(f"{base}/admin/customer/")
    table = list_table(page)
    html = page.content()
    for customer in [*own, other, created]:
        expect(table).to_contain_text(customer.name)
        masked = customer.mobile[:3] + "****" + customer.mobile[-4:]
        expect(table.locator("tbody tr", has_text=customer.name)).to_contain_text(masked)
        assert customer.mobile not in html, f"full mobile of {customer.name} in the page for service"
    expect(table.locator("tbody tr", has_text=NEW_NAME)).to_contain_text("138****8000")
    expect(table.locator("thead")).not_to_contain_text("年营收")
    expect(table.locator("th.col-annual_revenue")).to_have_count(0)
    assert "8800000" not in html and "8,800,000" not in html, "annual revenue in the page for service"
    shot("service-customers")

    page.goto(f"{base}/admin/customer/details/?id={created.id}")
    expect(page.locator("body")).to_contain_text(NEW_NAME)
    expect(page.locator("body")).to_contain_text("138****8000")
    assert NEW_MOBILE not in page.content(), "full mobile on the details page for service"

    page.goto(f"{base}/admin/order/")
    table = list_table(page)
    expect(table).to_contain_text(order.order_no)
    expect(table.locator("thead")).not_to_contain_text("金额")
    expect(table.locator("th.col-amount")).to_have_count(0)
    assert "98765" not in page.content() and "98,765" not in page.content()
    shot("service-orders")
