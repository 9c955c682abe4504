"""Screens that read like the seed, in Chromium: an admin sets up 大客户销售 on the role grid in one page, a user
with that role logs in and sees what was ticked (a masked mobile, no 年营收), records a follow-up on behalf of a
colleague of the team, and reads order amounts as ¥1,234,567.50 on the customer's page."""
import datetime
import decimal

from playwright.sync_api import expect

from models import ColumnRule, FollowUp, Order, Role, RolePermission, User
from tests.browser.test_security_csp_ui import _clean, _watch
from tests.browser.test_ui import log_in, log_out

TICKS = ("customer.view", "customer.edit", "order.view", "followup.view", "followup.create", "task.view")


def test_an_admin_sets_up_a_key_account_role_in_the_grid_and_its_user_works_with_it(
        app, page, live_server, password, users, make_customer, shot):
    customer = make_customer(owner="sales1", name="大客户甲方", mobile="13812345678",
                             annual_revenue=decimal.Decimal("98765432.17"))
    Order.create(customer=customer, order_no="SO-GRID-1", amount=decimal.Decimal("1234567.50"), quantity=1200,
                 ordered_at=datetime.datetime(2026, 5, 1, 9, 30), product="旗舰版", channel="线上")
    errors = _watch(page)
    log_in(page, live_server, "admin", password)
    page.goto(f"{live_server}/admin/role/")
    page.get_by_role("link", name="创建").first.click()
    expect(page.locator("#role-copy")).to_contain_text("从现有角色复制权限：")
    page.locator("#role-name").fill("key_account")
    page.locator("#role-label").fill("大客户销售")
    page.locator("#role-row-scope").select_option("team")
    for tick in TICKS:
        page.locator(f"input[name='perm.{tick}']").check()
    page.locator("select[name='rule.customer.mobile']").select_option("masked")
    page.locator("select[name='rule.customer.annual_revenue']").select_option("hidden")
    page.locator("input[name='reveal.customer.mobile']").check()
    expect(page.locator(".rule-cell[data-column='annual_revenue']").first).to_have_class("rule-cell level-hidden")
    shot("grid")
    page.locator("#role-save").click()
    expect(page.locator(".alert-success")).to_contain_text("大客户销售")
    _clean(page, errors, "角色权限")

    role = Role.get(Role.name == "key_account")
    assert {(p.model, a) for p in RolePermission.select().where(RolePermission.role == role)
            for a in ("view", "create", "edit", "delete", "export") if getattr(p, "can_" + a)} == {
        tuple(t.split(".")) for t in TICKS}
    assert {(r.column, r.access, r.reveal) for r in ColumnRule.select().where(ColumnRule.role == role)} == {
        ("mobile", "masked", True), ("annual_revenue", "hidden", False)}
    page.goto(f"{live_server}/admin/role/edit/?id={role.id}")
    expect(page.locator("input[name='perm.customer.edit']")).to_be_checked()
    expect(page.locator("input[name='perm.customer.delete']")).not_to_be_checked()
    expect(page.locator("select[name='rule.customer.mobile']")).to_have_value("masked")
    shot("grid-saved")

    user = User(username="ka1", display_name="大客户甲", role=role, manager=users["manager"], must_change_password=False)
    user.set_password(password)
    user.save()
    log_out(page, live_server)
    log_in(page, live_server, "ka1", password)
    page.goto(f"{live_server}/admin/customer/")
    row = page.locator("tr", has_text="大客户甲方")
    expect(row).to_contain_text("138****5678")
    expect(page.locator("th", has_text="年营收")).to_have_count(0)
    expect(page.get_by_role("link", name="创建")).to_have_count(0)
    shot("customers-as-key-account")

    page.goto(f"{live_server}/admin/customer/details/?id={customer.id}")
    orders = page.locator("#related-order + table")
    expect(orders).to_contain_text("¥1,234,567.50")
    expect(orders).to_contain_text("1,200")
    shot("customer-details")

    page.get_by_role("link", name="新增跟进").click()
    expect(page.locator("label[for=user]")).to_have_text("跟进人")
    page.locator("#at").fill("2026-03-02 10:30:00")
    page.locator("#method").select_option("拜访")
    page.locator("#content").fill("代李销售记录的拜访")
    page.locator("#next_date").fill("2026-03-09")
    page.locator("#content").click()  # closes the date pickers, which would cover 跟进人 and 保存
    expect(page.locator(".daterangepicker:visible")).to_have_count(0)
    page.locator("div.form-group", has=page.locator("#user")).locator(".select2-container").first.click()
    page.keyboard.type("sales1")
    page.locator(".select2-result-label, .select2-results__option", has_text="sales1").first.click()
    shot("follow-up-on-behalf")
    page.locator("input[type=submit][value='保存']").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    assert FollowUp.get(FollowUp.content == "代李销售记录的拜访").user_id == users["sales1"].id
    page.goto(f"{live_server}/admin/followup/")
    for label in ("记录ID", "客户编号", "跟进时间", "跟进方式", "跟进内容", "下次跟进时间", "跟进人", "跟进结果"):
        expect(page.locator("th", has_text=label).first).to_be_visible()
    expect(page.locator("tr", has_text="代李销售记录的拜访")).to_contain_text("李销售 (sales1)")
    shot("follow-ups")
    _clean(page, errors, "大客户销售")
