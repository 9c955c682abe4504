"""销售漏斗 in a real browser: a manager opens 分析报表 → 销售漏斗, picks the period, sees the funnel drawn by the
vendored ECharts (a canvas) and the numbers beneath, computed by hand in tests/test_funnel.py; then narrows it
to one rep with the owner filter."""
import re

from playwright.sync_api import expect

from tests.browser.test_ui import log_in
from tests.test_funnel import book  # noqa: F401 - the fixture with the hand-computed history


def test_manager_sees_the_funnel_chart_and_its_numbers(page, live_server, password, book, users, shot):  # noqa: F811
    base = live_server
    log_in(page, base, "manager", password)
    page.wait_for_load_state("networkidle")  # the menu's dropdown script is loaded
    page.locator("#admin-navbar-collapse").get_by_role("link", name="分析报表").click()
    page.locator("#admin-navbar-collapse").get_by_role("link", name="销售漏斗").click()
    expect(page.locator("#funnel-filters")).to_be_visible()
    page.locator("#funnel-start").fill("2026-04-01")
    page.locator("#funnel-end").fill("2026-06-30")
    page.locator("#funnel-apply").click()
    expect(page.locator("#funnel-title")).to_contain_text("2026-04-01 至 2026-06-30")
    chart = page.locator("#funnel-chart")
    expect(chart).to_have_attribute("data-rendered", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    assert chart.locator("canvas").bounding_box()["height"] > 200
    # the table beneath: the manager's team (sales1 and sales2: customers a to f)
    expect(page.locator('#funnel-stages tr[data-stage="潜在客户"] .at-end')).to_have_text("2")
    expect(page.locator('#funnel-stages tr[data-stage="成交客户"] .entered')).to_have_text("2")
    expect(page.locator('#funnel-conversions tr[data-step="潜在客户>意向客户"] .rate')).to_have_text("50.0%")
    shot("team")

    page.locator("#funnel-owner").select_option(str(users["sales1"].id))
    page.locator("#funnel-apply").click()
    expect(page.locator('#funnel-conversions tr[data-step="潜在客户>意向客户"] .entered')).to_have_text("3")
    expect(page.locator('#funnel-conversions tr[data-step="潜在客户>意向客户"] .rate')).to_have_text("66.7%")
    expect(page.locator("#funnel-chart")).to_have_attribute("data-rendered", "1")
    shot("one-rep")


def test_admin_edits_a_transition(page, live_server, password, shot):
    import pipeline
    from models import PipelineTransition

    pipeline.seed_transitions()
    base = live_server
    log_in(page, base, "admin", password)
    page.wait_for_load_state("networkidle")
    page.locator("#admin-navbar-collapse").get_by_role("link", name="基础数据").click()
    page.locator("#admin-navbar-collapse").get_by_role("link", name="状态流转").click()
    expect(page.locator("table")).to_contain_text("180天未下单流失")
    expect(page.locator("table")).to_contain_text("N天未下单")
    shot("list")
    churn = PipelineTransition.get(PipelineTransition.name == "180天未下单流失")
    page.goto(f"{base}/admin/pipelinerule/edit/?id={churn.id}")
    page.locator("#params").fill('{"days": 0}')
    page.get_by_role("button", name="保存").first.click()
    expect(page.locator(".alert-danger, .alert-error").first).to_contain_text("天数应为 1 到 3650")
    shot("refused")
    page.locator("#params").fill('{"days": 90}')
    page.get_by_role("button", name="保存").first.click()
    expect(page.locator("table")).to_contain_text('{"days": 90}')
    assert PipelineTransition.get_by_id(churn.id).params == '{"days": 90}'
