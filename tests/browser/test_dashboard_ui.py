"""The dashboard in a real browser: a manager logs in, lands on 首页 and sees the team's cards drawn by the
vendored ECharts (canvas elements) with the line saying when the figures were computed (数据更新于 …), switches
the period with the selector (one request for every card), and the page logs no console errors; service staff see no money cards.  Screenshots go to test-artifacts/."""
import datetime

from playwright.sync_api import expect

import reminders
from models import CustomerTag, CustomerValue, FollowUp, Order, StatusChange, Tag
from tests.browser.test_ui import log_in

TODAY = datetime.date(2025, 6, 18)
D = datetime.datetime


def _data(make_customer, users):
    industries = ["互联网", "制造业", "金融", "教育", "零售"]
    statuses = ["潜在客户", "意向客户", "成交客户", "成交客户", "流失客户"]
    tag = Tag.create(name="高价值", category="价值", source="rule")
    Tag.create(name="流失风险", category="行为", source="rule")
    for n in range(15):
        owner = ("sales1", "sales2", "sales3")[n % 3]
        customer = make_customer(owner=owner, name=f"看板客户{n:02d}", status=statuses[n % 5],
                                 industry=industries[n % 5], created_at=D(2024, 8 + n % 5, 1 + n))
        for k in range(n % 4):
            Order.create(customer=customer, order_no=f"UI{n:02d}{k}", amount=1234.5 * (n + 1) + 1000 * k,
                         ordered_at=D(2024, 7, 1) + datetime.timedelta(days=23 * n + 31 * k))
        planned = FollowUp.create(customer=customer, at=D(2025, 6, 1), method="电话", content="回访",
                                  next_date=datetime.date(2025, 6, 10 + n), user=users[owner])
        reminders.after_followups([planned.id], now=D(2025, 6, 1, 12))
        StatusChange.create(customer=customer, from_status=None, to_status="潜在客户", reason="新建客户",
                            at=customer.created_at)
        if statuses[n % 5] != "潜在客户":
            StatusChange.create(customer=customer, from_status="潜在客户", to_status=statuses[n % 5], reason="推进",
                                at=customer.created_at + datetime.timedelta(days=20))
        if n % 2:
            CustomerTag.create(customer=customer, tag=tag, source="rule")
        if n < 6:  # rows as valuation.refresh writes them
            CustomerValue.create(customer=customer, tier=("高价值客户", "潜力客户", "普通客户")[n % 3],
                                 ltv=20000 - 3000 * n, annual_spend=1234.5 * (n + 1), orders_12m=n % 4,
                                 as_of=TODAY, refreshed_at=D(2025, 6, 18, 3))


def _favicon(message):
    """Chromium asks every site for /favicon.ico, which the platform does not have: not the page's error."""
    return (message.location.get("url") or "").endswith("/favicon.ico")


def test_manager_sees_the_charts_and_switches_the_period(app, page, live_server, password, make_customer, users,
                                                         shot):
    app.config["DASHBOARD_TODAY"] = TODAY
    _data(make_customer, users)
    errors = []
    page.on("console", lambda message: errors.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error" and not _favicon(message) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, "manager", password)
    expect(page.locator("#whoami")).to_contain_text("本团队")
    for key in ("sales_trend", "customers_by_status", "funnel", "industry_mix", "rule_tags"):
        expect(page.locator(f"#card-{key} canvas").first).to_be_attached()
    expect(page.locator("#card-top_customers tbody tr").first).to_be_visible()
    expect(page.locator("#card-top_values tbody tr").first).to_contain_text("高价值客户")
    expect(page.locator("#card-top_values tbody tr").first).to_contain_text("¥20,000.00")
    expect(page.locator("#card-sales_total .dash-kpi")).to_contain_text("¥")
    expect(page.locator("#card-sales_total .dash-kpi")).to_contain_text(",")
    expect(page.locator('#card-tasks_due [data-stat="overdue"] .dash-kpi')).to_have_text("6")  # sales1 and sales2 customers planned for 10-17 June
    # the first view computed the roll-ups (a small database): the page says when, for which day
    expect(page.locator("#dashboard-freshness")).to_contain_text("数据更新于")
    expect(page.locator("#dashboard-freshness")).to_contain_text("统计至 2025-06-18")
    shot("12m")

    with page.expect_response(lambda r: "/admin/dashboard-data?period=month" in r.url) as answer:
        page.locator('#dashboard-periods [data-period="month"]').click()
    assert answer.value.status == 200
    expect(page.locator("#dashboard-cards")).to_have_attribute("data-period", "month")
    expect(page.locator("#card-sales_trend .period-label")).to_have_text("本月")
    expect(page.locator("#card-sales_trend")).to_have_attribute("data-empty", "1")  # no orders in June 2025
    expect(page.locator("#card-sales_trend .dash-empty")).to_have_text("所选期间还没有订单")
    expect(page).to_have_url(f"{live_server}/admin/?period=month")
    shot("month")
    page.locator('#dashboard-periods [data-period="year"]').click()
    expect(page.locator("#dashboard-cards")).to_have_attribute("data-period", "year")
    expect(page.locator("#card-sales_trend canvas").first).to_be_attached()
    expect(page.locator("#dashboard-freshness")).to_contain_text("数据更新于")  # the JSON answer carries it too
    page.wait_for_load_state("networkidle")
    assert errors == []


def test_service_sees_no_money_cards(app, page, live_server, password, make_customer, users, shot):
    app.config["DASHBOARD_TODAY"] = TODAY
    _data(make_customer, users)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "service", password)
    expect(page.locator("#card-customers_by_status canvas").first).to_be_attached()
    expect(page.locator("#card-sales_trend")).to_have_count(0)
    expect(page.locator("#card-top_customers")).to_have_count(0)
    expect(page.locator("#card-sales_total")).to_have_count(0)
    expect(page.locator("#card-top_values tbody tr").first).to_contain_text("高价值客户")
    expect(page.locator("#card-top_values")).not_to_contain_text("¥")  # the value table's money is hidden
    shot("service")
    assert errors == []
