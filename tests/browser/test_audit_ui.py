"""系统管理 → 审计日志 in a real browser: the admin opens it from the menu, filters by 表 and 用户 with the
filter bar, then by a date range; a delete's entry shows the values deleted with the ID number masked."""
import datetime
import re

from playwright.sync_api import expect

from models import AuditLog
from tests.browser.test_ui import log_in


def test_admin_filters_the_audit_log(page, live_server, password, make_customer, shot):
    base = live_server
    customer = make_customer(owner="sales1", name="审计客户", id_number="110101199001011234")
    AuditLog.create(at=datetime.datetime(2026, 3, 2, 9, 30), username="manager", action="delete", model="customer",
                    record_id=str(customer.id),
                    changes='{"name": "旧客户", "id_number": "110***********1234", "annual_revenue": "1250000.00"}')
    AuditLog.create(at=datetime.datetime(2026, 3, 20, 15, 0), username="sales1", action="update", model="order",
                    record_id="12", changes='{"amount": ["100.00", "120.00"]}')
    AuditLog.create(at=datetime.datetime(2026, 5, 1, 8, 0), username="manager", action="export", model="customer",
                    rows=35)

    log_in(page, base, "admin", password)
    page.wait_for_load_state("networkidle")
    page.locator("#admin-navbar-collapse").get_by_role("link", name="系统管理").click()
    page.get_by_role("link", name="审计日志").click()
    expect(page).to_have_url(re.compile(r"/admin/auditlog/"))
    table = page.locator("table.model-list")
    expect(table).to_contain_text("110***********1234")
    expect(table).not_to_contain_text("110101199001011234")
    shot("list")

    page.get_by_role("link", name=re.compile("添加筛选|Add Filter")).click()
    page.locator("a.filter", has_text="表").first.click()
    page.locator(".filters tr").last.locator("select.filter-val").select_option("customer", force=True)
    page.get_by_role("link", name=re.compile("添加筛选|Add Filter")).click()
    page.locator("a.filter", has_text="用户").click()
    page.locator(".filters tr").last.locator("input.filter-val").fill("manager")
    page.locator("#filter_form button[type=submit]").click()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).not_to_contain_text("sales1")
    shot("by-table-and-user")

    page.goto(f"{base}/admin/auditlog/?flt0_0=manager&flt1_5=2026-03-01+to+2026-03-31")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("td.col-action")).to_have_text("删除（delete）")
    expect(table.locator("td.col-changes")).to_contain_text("年营收: 1,250,000.00")
    expect(page.locator(".filters")).to_contain_text("日期")
    shot("by-user-and-dates")
