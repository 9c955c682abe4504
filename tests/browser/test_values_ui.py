"""客户价值分析表 in a real browser: a manager opens it from the 分析报表 menu, sees the refresh and the tiers of
their team, filters by 客户分层 and sorts by LTV; 客服专员 sees the same screen without the money columns."""
import datetime
import re

from playwright.sync_api import expect

import valuation
from tests.browser.test_ui import log_in, log_out

AS_OF = datetime.date(2025, 6, 30)


def test_manager_and_service_open_the_value_table(page, live_server, password, make_customer, make_order, shot):
    base = live_server
    spends = {"华光科技": "128000.00", "青松贸易": "45600.50", "远航物流": "9800.00", "明德教育": "1200.00",
              "晨曦食品": "300.00"}
    for name, amount in spends.items():
        customer = make_customer(owner="sales1", name=name)
        make_order(customer, amount=amount, ordered_at=datetime.datetime(2025, 5, 20, 14, 30))
    make_customer(owner="sales3", name="别队客户")  # manager2's team: not the manager's
    valuation.refresh(AS_OF)

    log_in(page, base, "manager", password)
    page.wait_for_load_state("networkidle")  # the menu's scripts, before opening the dropdown
    page.locator("#admin-navbar-collapse").get_by_role("link", name="分析报表").click()
    page.get_by_role("link", name="客户价值分析表").click()
    expect(page).to_have_url(re.compile(r"/admin/customervalue/"))
    expect(page.locator("#value-as-of")).to_have_text("2025-06-30")
    expect(page.locator('#value-tiers [data-tier="高价值客户"] .tier-count')).to_have_text("1")
    table = page.locator("table.model-list")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table).not_to_contain_text("别队客户")
    first = table.locator("tbody tr").first
    expect(first.locator("td.col-name")).to_have_text("华光科技")
    expect(first.locator("td.col-annual_spend")).to_have_text("¥128,000.00")
    # Money and counts right-aligned (web/static/admin.css on the cells marked num), their headers too.
    for column in ("annual_spend", "orders_12m", "ltv"):
        expect(first.locator(f"td.col-{column}")).to_have_css("text-align", "right")
        expect(table.locator(f"th.col-{column}")).to_have_css("text-align", "right")
    expect(first.locator("td.col-name")).to_have_css("text-align", "left")
    expect(first.locator("td.col-tier")).to_have_text("高价值客户")
    shot("manager")

    first.locator("a.icon").first.click()  # the row's details
    expect(page.locator("table")).to_contain_text("华光科技")
    expect(page.locator("table")).to_contain_text("¥128,000.00")
    expect(page.locator("table")).to_contain_text("数据日期")
    shot("details")
    page.go_back()

    page.get_by_role("link", name=re.compile("添加筛选|Add Filter")).click()
    page.locator("a.filter", has_text="客户分层").click()
    # The value box is a select2 over a hidden <select>: pick in the select itself, which the form submits.
    page.locator(".filters tr").last.locator("select.filter-val").select_option("潜力客户", force=True)
    page.locator("#filter_form button[type=submit]").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("td.col-name")).to_have_text("青松贸易")
    shot("filtered")

    log_out(page, base)
    log_in(page, base, "service", password)
    page.goto(f"{base}/admin/customervalue/")
    expect(page.locator("table.model-list tbody tr")).to_have_count(6)
    expect(page.locator("table.model-list th.col-tier")).to_be_visible()
    expect(page.locator("table.model-list th.col-annual_spend")).to_have_count(0)
    expect(page.locator("table.model-list th.col-ltv")).to_have_count(0)
    expect(page.locator("table.model-list")).not_to_contain_text("¥")
    shot("service")
