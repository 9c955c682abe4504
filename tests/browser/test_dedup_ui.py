"""A merge in a real browser: a manager opens 重复客户, sees the group, picks the survivor and a value,
merges, sees the merged-away record gone and the follow-up moved, then undoes it."""
import datetime
import re

from playwright.sync_api import expect

from models import Customer, FollowUp, MergeRecord

from tests.browser.test_ui import log_in


def test_manager_merges_a_duplicate_and_undoes_it(page, live_server, password, make_customer, shot):
    base = live_server
    keep = make_customer(owner="sales1", name="深圳华为技术有限公司", mobile="13800000801", phone="0755-1234567")
    twin = make_customer(owner="sales1", name="深圳華為技術有限公司", mobile="13800000802", phone="0755-7654321",
                         email="hw@huawei.com")
    FollowUp.create(customer=twin, at=datetime.datetime(2024, 5, 6, 10, 0), method="电话", content="跟进华为")

    log_in(page, base, "manager", password)
    page.goto(f"{base}/admin/duplicates/")
    group = page.locator("tr.duplicate-group", has_text=keep.code)
    expect(group).to_contain_text(twin.code)
    expect(group).to_contain_text("公司名称相同（繁简/后缀/城市归一后）")
    shot("groups")

    group.get_by_role("link", name="合并…").click()
    table = page.locator("#merge-table")
    expect(table.locator('tr[data-field="phone"]')).to_contain_text("0755-7654321")
    table.locator('tr[data-field="phone"] input[type=radio]').nth(1).check()
    shot("merge-form")
    with page.expect_navigation():
        page.get_by_role("button", name="合并", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("已合并")
    shot("merged")
    survivor = Customer.get_by_id(keep.id)
    assert survivor.phone == "0755-7654321" and survivor.email == "hw@huawei.com"
    assert Customer.get_or_none(Customer.id == twin.id) is None
    assert FollowUp.get().customer_id == keep.id

    page.goto(f"{base}/admin/customer/?search={twin.code}")
    expect(page.locator("body")).not_to_contain_text("深圳華為技術有限公司")

    page.goto(f"{base}/admin/duplicates/")
    with page.expect_navigation():
        page.locator("#recent-merges").get_by_role("button", name="撤销合并").click()
    expect(page.locator(".alert-success")).to_contain_text("已撤销")
    assert Customer.get_by_id(twin.id).code == twin.code and FollowUp.get().customer_id == twin.id
    assert MergeRecord.get().undone_by == "manager"
    expect(page.locator("tr.duplicate-group", has_text=keep.code)).to_be_visible()
    assert re.search(r"已撤销|undone", page.content())
