"""Tags in a real browser: a sales rep ticks two customers and tags them through the confirmation,
filters the list by that tag (添加筛选 → 标签 包含任一, picked in the tags box), tags every customer the
filter matches with a second tag, and checks 包含全部 / 不包含; an admin reviews the tag library's usage
and retires an unused tag after the confirmation."""
import re

from playwright.sync_api import expect

from models import AuditLog, Customer, CustomerTag, Tag
from tests.browser.test_ui import log_in


def tag_names(customer):
    return {ct.tag.name for ct in CustomerTag.select().where(CustomerTag.customer == customer.id)}


def add_tag_filter(page, operation, tag_text, shot=None):
    """添加筛选 → 标签, choose the operation, pick a tag in the tags box, 应用."""
    page.locator("#filter-groups-data")  # the list has filters
    page.wait_for_load_state("networkidle")  # the 添加筛选 dropdown's script is loaded
    page.get_by_role("link", name=re.compile("添加筛选")).click()
    page.locator("a.filter", has_text=re.compile(r"^标签$")).click()
    row = page.locator(".filters tr").last
    if operation != "包含任一":
        row.locator(".select2-container.filter-op").click()
        page.locator(".select2-drop-active .select2-result-label", has_text=operation).click()
    row.locator(".select2-container.filter-val input.select2-input, .select2-choices input").first.click()
    page.keyboard.type(tag_text)
    page.locator(".select2-drop-active .select2-result-label", has_text=tag_text).first.click()
    if shot:
        shot("filter-" + operation)
    page.locator("#filter_form button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def listed_names(page):
    return set(page.locator("table.model-list td.col-name").all_inner_texts())


def test_sales_rep_tags_in_bulk_and_filters_by_tags(page, live_server, password, make_customer, shot):
    base = live_server
    Tag.create(name="价格敏感", category="偏好")
    Tag.create(name="偏好上门拜访", category="偏好")
    Tag.create(name="高价值", category="价值", source="rule")
    mine = {name: make_customer(owner="sales1", name=name) for name in ("东方电气", "西湖茶业", "南山科技", "北辰物流")}
    CustomerTag.create(customer=mine["北辰物流"], tag=Tag.get(Tag.name == "高价值"), source="rule")
    other = make_customer(owner="sales3", name="别组客户")  # outside the rep's row scope

    log_in(page, base, "sales1", password)
    page.goto(f"{base}/admin/customer/")
    expect(page.locator("#tag-batch")).to_be_visible()
    expect(page.locator("table.model-list tbody tr")).to_have_count(4)
    for name in ("东方电气", "西湖茶业"):
        page.locator(f'input.action-checkbox[value="{mine[name].id}"]').check()
    page.locator("#tag-batch-tag").select_option("价格敏感")
    shot("list-selected")

    # selected rows: confirmation with the count, then the tags column shows the tag
    page.locator("#tag-batch-add").click()
    expect(page.locator("#tag-confirm-scope")).to_contain_text("所选的 2 位客户")
    expect(page.locator("#tag-confirm-text")).to_contain_text("将为 2 位客户添加标签“价格敏感”")
    shot("confirm-selected")
    assert not CustomerTag.select().where(CustomerTag.source == "manual").exists()
    page.locator("#tag-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("已为 2 位客户添加标签“价格敏感”")
    row = page.locator("tr", has=page.locator(f'input.action-checkbox[value="{mine["东方电气"].id}"]'))
    expect(row.locator(".customer-tags")).to_contain_text("价格敏感")
    assert tag_names(mine["东方电气"]) == tag_names(mine["西湖茶业"]) == {"价格敏感"}

    # filter by a tag in the filter bar, then tag every customer the filter matches
    add_tag_filter(page, "包含任一", "价格敏感", shot)
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)
    assert listed_names(page) == {"东方电气", "西湖茶业"}
    page.locator("#tag-batch-tag").select_option("偏好上门拜访")
    page.locator('#tag-batch input[name="mode"][value="matching"]').check()
    shot("filtered")
    page.locator("#tag-batch-add").click()
    expect(page.locator("#tag-confirm-scope")).to_contain_text("当前搜索和筛选匹配的全部客户：2 位")
    expect(page.locator("#tag-confirm-scope")).to_contain_text("标签 包含任一 价格敏感")
    shot("confirm-matching")
    page.locator("#tag-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("已为 2 位客户添加标签“偏好上门拜访”")
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)  # back on the filtered list
    assert tag_names(mine["东方电气"]) == {"价格敏感", "偏好上门拜访"}
    assert tag_names(mine["南山科技"]) == set() and tag_names(other) == set()
    assert AuditLog.select().where(AuditLog.action == "batch-tag").count() == 2

    # the other operations of the tag filter
    page.goto(f"{base}/admin/customer/")
    add_tag_filter(page, "不包含", "价格敏感")
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)
    assert listed_names(page) == {"南山科技", "北辰物流"}
    page.goto(f"{base}/admin/customer/")
    add_tag_filter(page, "包含全部", "价格敏感")
    row = page.locator(".filters tr").last
    row.locator(".select2-choices input").click()
    page.keyboard.type("偏好上门")
    page.locator(".select2-drop-active .select2-result-label", has_text="偏好上门拜访").first.click()
    page.locator("#filter_form button[type=submit]").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)
    shot("all-of")

    # untag the selected: a rule tag is not offered, a manual one goes
    page.goto(f"{base}/admin/customer/")
    assert "高价值" not in page.locator("#tag-batch-tag").inner_text()
    page.locator(f'input.action-checkbox[value="{mine["西湖茶业"].id}"]').check()
    page.locator("#tag-batch-tag").select_option("价格敏感")
    page.locator("#tag-batch-remove").click()
    expect(page.locator("#tag-confirm-text")).to_contain_text("将从 1 位客户移除手动添加的标签“价格敏感”")
    page.locator("#tag-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("已从 1 位客户移除标签“价格敏感”")
    assert tag_names(mine["西湖茶业"]) == {"偏好上门拜访"}
    assert Customer.select().count() == 5


def test_admin_reviews_usage_and_retires_an_unused_tag(page, live_server, password, make_customer, shot):
    base = live_server
    used = Tag.create(name="价格敏感", category="偏好")
    unused = Tag.create(name="年末采购", category="行为")
    Tag.create(name="高价值", category="价值", source="rule")
    for n in range(3):
        CustomerTag.create(customer=make_customer(owner="sales1", name=f"评审客户{n}"), tag=used)

    log_in(page, base, "admin", password)
    page.goto(f"{base}/admin/")
    page.get_by_role("link", name="基础数据").click()
    page.get_by_role("link", name="标签使用情况").click()
    table = page.locator("#tag-usage")
    expect(table.locator('tr[data-tag="价格敏感"] .customers')).to_have_text("3")
    expect(table.locator('tr[data-tag="年末采购"] .state')).to_have_text("建议停用")
    shot("review")

    table.locator('tr[data-tag="年末采购"] .tag-retire').click()
    expect(page.locator("#tag-retire-text")).to_contain_text("停用标签“年末采购”")
    shot("retire-confirm")
    assert Tag.get_by_id(unused.id).retired_at is None
    page.locator("#tag-retire-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("已停用标签“年末采购”")
    expect(page.locator('#tag-usage tr[data-tag="年末采购"] .state')).to_contain_text("已停用")
    shot("retired")
    assert Tag.get_by_id(unused.id).retired_at is not None
    assert AuditLog.get(AuditLog.action == "retire").username == "admin"

    table.locator('tr[data-tag="价格敏感"]').get_by_role("link", name="查看客户").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(3)
