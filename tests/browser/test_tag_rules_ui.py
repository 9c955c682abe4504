"""Tag rules in a real browser: an admin opens 基础数据 → 标签规则, writes a new rule, previews it before
saving (today, a past day, who gains and who loses the tag), fixes a wrong operator after the message in the
condition builder (which writes the JSON),
saves it enabled and sees the tag on the customers; then disables it from the list."""
import datetime
import re

from playwright.sync_api import expect

from models import CustomerTag, Order, Tag, TagRule
from tests.browser.test_ui import log_in

CONDITION = '{"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000}]}'


def test_admin_previews_and_enables_a_rule(page, live_server, password, make_customer, shot):
    base = live_server
    tag = Tag.create(name="高价值", category="价值", source="rule")
    now = datetime.datetime.now()
    big = make_customer(owner="sales1", name="东方电气")
    Order.create(customer=big, order_no="SO-B1", ordered_at=now - datetime.timedelta(days=5), amount=120000)
    earlier = make_customer(owner="sales1", name="西湖茶业")  # matched 60 days ago, not any more
    Order.create(customer=earlier, order_no="SO-B2", ordered_at=now - datetime.timedelta(days=400), amount=150000)
    make_customer(owner="sales2", name="南山科技")

    log_in(page, base, "admin", password)
    page.wait_for_load_state("networkidle")  # the menu's dropdown script is loaded
    page.get_by_role("link", name=re.compile("基础数据")).click()
    page.get_by_role("link", name="标签规则").click()
    expect(page.locator("#tag-rules-none")).to_be_visible()
    page.locator("#tag-rule-new").click()
    page.locator("#tag-rule-name").fill("高价值客户")
    page.locator("#tag-rule-tag").select_option("高价值")
    page.locator("#tag-rule-condition").fill(CONDITION.replace('">="', '"in"'))
    page.locator("#tag-rule-past").fill((datetime.date.today() - datetime.timedelta(days=60)).isoformat())
    page.locator("#tag-rule-preview").click()
    expect(page.locator(".alert-danger, .alert-error").first).to_contain_text("不能使用运算符“in”")
    shot("wrong-operator")

    # the builder: fix the operator, add a comparison and take it away again; it writes the JSON field
    page.locator(".builder-row .builder-op").first.select_option(">=")
    expect(page.locator("#tag-rule-condition")).to_have_value(re.compile(r'"op": ">="'))
    page.locator("#builder-add").click()
    second = page.locator(".builder-row").nth(1)
    second.locator(".builder-metric").select_option("region")
    second.locator(".builder-op").select_option("in")
    second.locator(".builder-value").fill("华北,华东")
    expect(page.locator("#tag-rule-condition")).to_have_value(re.compile(r'"华北",\s*"华东"'))
    shot("builder")
    second.get_by_role("button", name="删除").click()
    expect(page.locator("#tag-rule-condition")).not_to_have_value(re.compile("华北"))
    page.locator("#tag-rule-preview").click()
    expect(page.locator("#preview-now-count")).to_have_text("1")
    expect(page.locator("#preview-past-count")).to_have_text("1")
    expect(page.locator("#preview-gained")).to_contain_text("东方电气")
    expect(page.locator("#preview-lost")).to_contain_text("西湖茶业")
    shot("preview")
    assert not TagRule.select().exists() and not CustomerTag.select().exists()  # a preview saves nothing

    page.locator("#tag-rule-enabled").check()
    page.locator("#tag-rule-save").click()
    expect(page.locator(".alert-success")).to_contain_text("已保存规则“高价值客户”")
    row = page.locator('#tag-rules tr[data-rule="高价值客户"]')
    expect(row.locator(".rule-condition")).to_have_text("近365天订单金额 ≥ 100,000元")
    expect(row).to_contain_text("启用中")
    shot("list")
    assert {ct.customer_id for ct in CustomerTag.select().where(CustomerTag.tag == tag.id)} == {big.id}

    row.get_by_role("link", name="记录").click()
    expect(page.locator("#tag-rule-episodes tbody tr")).to_have_count(1)
    expect(page.locator("#tag-rule-episodes")).to_contain_text("东方电气")
    expect(page.locator("#tag-rule-episodes")).to_contain_text("修改规则")
    shot("record")
    page.get_by_role("link", name="返回规则列表").click()
    row.get_by_role("button", name="停用").click()
    expect(page.locator(".alert-success")).to_contain_text("已停用规则“高价值客户”")
    assert not CustomerTag.select().exists()
