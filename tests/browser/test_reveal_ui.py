"""查看明文 in a real browser: the masked value's button reveals the clear value in place, under the CSP,
and the reveal is audited; before the click the page holds only the masked value."""
from playwright.sync_api import expect

import access
from models import AuditLog, ColumnRule, Role
from tests.browser.test_security_csp_ui import _clean, _watch
from tests.browser.test_ui import log_in

ID_NUMBER = "110101199001011234"


def test_a_manager_reveals_one_id_number_on_the_details_page(app, page, live_server, password, make_customer, shot):
    customer = make_customer(owner="sales1", name="查看明文客户", id_number=ID_NUMBER, bank_account="6222021234567890123")
    rule = ColumnRule.get((ColumnRule.role == Role.get(Role.name == "manager").id) & (ColumnRule.model == "customer")
                          & (ColumnRule.column == "id_number"))
    rule.reveal = True
    rule.save()
    access.bump_version()

    errors = _watch(page)
    log_in(page, live_server, "manager", password)
    page.goto(f"{live_server}/admin/customer/details/?id={customer.id}")
    row = page.locator("tr", has_text="身份证号")
    expect(row).to_contain_text("110***********1234")
    assert ID_NUMBER not in page.content()
    expect(page.locator("tr", has_text="银行卡号").get_by_role("button", name="查看明文")).to_have_count(0)
    shot("masked")

    row.get_by_role("button", name="查看明文").click()
    expect(row).to_contain_text(ID_NUMBER)
    expect(row).to_contain_text("已记入审计日志")
    expect(row.get_by_role("button", name="查看明文")).to_have_count(0)
    _clean(page, errors, "客户详情")
    shot("revealed")

    [entry] = AuditLog.select().where(AuditLog.action == "reveal")
    assert (entry.username, entry.record_id) == ("manager", str(customer.id)) and ID_NUMBER not in entry.changes


def test_an_admin_grants_reveal_on_the_role_screen(app, page, live_server, password, shot):
    role = Role.get(Role.name == "service")
    log_in(page, live_server, "admin", password)
    page.goto(f"{live_server}/admin/role/edit/?id={role.id}")
    box = page.locator("[name='reveal.customer.mobile']")  # the grid's column rules (admin/role_grid.py)
    expect(box).not_to_be_checked()
    box.check()
    shot("role-screen")
    page.locator("input[type=submit][value='保存']").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    rule = ColumnRule.get((ColumnRule.role == role.id) & (ColumnRule.column == "mobile"))
    assert rule.reveal and rule.access == "masked"
