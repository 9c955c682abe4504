"""The 数据质量 screen in a real browser: a manager sees the counts, drills into the customers whose
industry is not a list entry, ticks two of them, sets 所属行业 through the confirmation step, and the
rows are fixed (and audited) while the unticked one is left alone."""
import re

from playwright.sync_api import expect

from models import AuditLog, Customer
from tests.browser.test_ui import log_in


def test_manager_drills_into_a_finding_and_fixes_rows(page, live_server, password, make_customer, shot):
    base = live_server
    odd = [make_customer(owner="sales1", name=f"行业待整理{n}号公司", industry=value)
           for n, value in enumerate(("IT行业", "信息技术服务", "软件开发"), start=1)]
    make_customer(owner="sales1", name="全角手机公司", mobile="13８12345678", phone="010-62345678")
    make_customer(owner="sales3", name="其他团队公司", industry="其他团队行业")  # outside the manager's team

    log_in(page, base, "manager", password)
    page.goto(f"{base}/admin/quality/")
    counts = page.locator("#quality-counts")
    expect(counts).to_be_visible()
    row = counts.locator('tr[data-finding="unlisted-industry"]')
    expect(row.locator(".count")).to_have_text("3")
    expect(counts.locator('tr[data-finding="invalid-mobile"] .count')).to_have_text("1")
    shot("counts")

    row.get_by_role("link", name="所属行业不在列表中").click()
    expect(page).to_have_url(re.compile(r"/admin/quality/records/\?key=unlisted-industry"))
    table = page.locator("#quality-records")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.get_by_role("link", name="编辑").first).to_have_attribute("href", re.compile(r"/admin/customer/edit/"))
    for customer in odd[:2]:
        table.locator(f'input[name="ids"][value="{customer.id}"]').check()
    page.locator("#quality-value").select_option("互联网")
    shot("drill-down")

    page.locator("#quality-fix").click()
    expect(page.locator("#quality-confirm-text")).to_contain_text("将把 2 条记录的“所属行业”改为：互联网")
    shot("confirm")
    page.locator("#quality-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("已修改 2 条记录")
    expect(page.locator("#quality-records tbody tr")).to_have_count(1)
    expect(page.locator("#finding-total")).to_have_text("1")
    shot("fixed")

    assert [Customer.get_by_id(c.id).industry for c in odd] == ["互联网", "互联网", "软件开发"]
    audited = {e.record_id for e in AuditLog.select().where((AuditLog.action == "update") & (AuditLog.username == "manager"))}
    assert audited == {str(odd[0].id), str(odd[1].id)}
