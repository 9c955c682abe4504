"""Tags in the admin: the tags column and 批量标签 bar of the customer list, the tag filters (any of /
all of / none of / more than), the confirmation and apply steps with every kind of bad input, the
标签使用情况 screen with 停用 and 恢复, the over-the-limit warning, and the hand-edited customer tags."""
import json
import re

import pytest

import access
from models import AuditLog, ColumnRule, CustomerTag, Role, RolePermission, Tag
from tests import policy_support as ps

URL = "/admin/customer/"
FILTER_GROUPS_RE = re.compile(r'id="filter-groups-data" class="d-none">(.*?)</div>', re.S)


@pytest.fixture
def tags(app):
    return {"price": Tag.create(name="价格敏感", category="偏好"),
            "visit": Tag.create(name="偏好上门拜访", category="偏好"),
            "vip": Tag.create(name="高价值", category="价值", source="rule")}


def html_of(response):
    return response.get_data(as_text=True)


def alerts(html):
    return [ps.text_of(n) for n in ps.soup(html).select(".alert")]


def tag_rows():
    return {(ct.customer_id, ct.tag.name, ct.source) for ct in CustomerTag.select()}


def filter_args(client):
    """{(group, operation): filter argument} of the client's customer list."""
    groups = json.loads(FILTER_GROUPS_RE.search(html_of(client.get(URL))).group(1))
    return {(group, entry["operation"]): entry["arg"] for group, entries in groups.items() for entry in entries}


def listed(client, **query):
    response = client.get(URL, query_string=query)
    assert response.status_code == 200
    return ps.ListPage(html_of(response))


TOKEN_PAGE = "/password"  # any page with a form gives the session's CSRF token (SecureForm tokens are not per form)


def confirm(client, **data):
    return client.submit("/admin/tagbatch/confirm/", data, form_url=TOKEN_PAGE)


def apply(client, **data):
    return client.submit("/admin/tagbatch/apply/", data, form_url=TOKEN_PAGE, follow_redirects=True)


def confirmed_form(html):
    """The hidden fields of the confirmation page's form, as the browser would post them."""
    form = ps.soup(html).select_one("#tag-apply")
    assert form is not None, alerts(html)
    data = {}
    for field in form.select("input[type=hidden]"):
        if field["name"] != "csrf_token":
            data.setdefault(field["name"], []).append(field.get("value", ""))
    return {k: v if k == "ids" else v[0] for k, v in data.items()}


# --- the list -------------------------------------------------------------------------------------
def test_the_list_shows_tags_and_the_batch_bar_as_the_policy_says(login, make_customer, tags):
    tagged = make_customer(owner="sales1", name="带标签客户")
    CustomerTag.create(customer=tagged, tag=tags["price"])
    CustomerTag.create(customer=tagged, tag=tags["vip"], source="rule")
    sales = html_of(login("sales").get(URL))
    doc = ps.soup(sales)
    row = doc.select_one(f'input.action-checkbox[value="{tagged.id}"]').find_parent("tr")
    assert [ps.text_of(b) for b in row.select(".customer-tags .badge")] == ["高价值", "价格敏感"]
    assert row.select_one(".customer-tags .tag-rule").get_text() == "高价值"
    bar = doc.select_one("#tag-batch")
    assert bar is not None and bar.select_one('input[name="csrf_token"]') is not None
    assert bar.select_one("#tag-batch-add") and bar.select_one("#tag-batch-remove")
    options = [o["value"] for o in bar.select("#tag-batch-tag option") if o["value"]]
    assert options == ["价格敏感", "偏好上门拜访"]  # manual tags only
    assert ("标签", "包含任一") in filter_args(login("sales"))

    service = login("service")
    page = ps.soup(html_of(service.get(URL)))
    assert page.select_one("#tag-batch") is None and page.select(".customer-tags .badge")
    assert ("标签", "不包含") in filter_args(service)
    # the same data for a role whose `tagging` view is taken away: no tags, no tag filters
    RolePermission.update(can_view=False).where(
        (RolePermission.role == Role.get(Role.name == "service")) & (RolePermission.model == "tagging")).execute()
    access.bump_version()
    page = html_of(service.get(URL))
    assert "customer-tags" not in page and "价格敏感" not in page
    assert not [key for key in filter_args(service) if key[0] in ("标签", "标签数")]


def test_a_hidden_tag_column_hides_tags_from_the_list(login, make_customer, tags):
    CustomerTag.create(customer=make_customer(owner="sales1"), tag=tags["price"])
    ColumnRule.create(role=Role.get(Role.name == "sales"), model="customertag", column="tag", access="hidden")
    access.bump_version()
    page = html_of(login("sales").get(URL))
    assert "价格敏感" not in page and 'id="tag-batch"' not in page


def test_filters_any_all_none_and_more_than(login, make_customer, tags):
    a, b, c, d = (make_customer(owner="sales1") for _ in range(4))
    for customer, names in ((a, ("price",)), (b, ("price", "visit")), (c, ("visit", "vip"))):
        for name in names:
            CustomerTag.create(customer=customer, tag=tags[name])
    client = login("sales")
    args = filter_args(client)
    price, visit, vip = "价格敏感", "偏好上门拜访", "高价值"
    assert listed(client, **{f"flt0_{args['标签', '包含任一']}": f"{price},{vip}"}).ids == {a.id, b.id, c.id}
    assert listed(client, **{f"flt0_{args['标签', '包含全部']}": f"{price},{visit}"}).ids == {b.id}
    assert listed(client, **{f"flt0_{args['标签', '不包含']}": f"{price},{vip}"}).ids == {d.id}
    assert listed(client, **{f"flt0_{args['标签数', '大于']}": "1"}).ids == {b.id, c.id}
    both = {f"flt0_{args['标签', '包含任一']}": visit, f"flt1_{args['标签', '不包含']}": vip}
    assert listed(client, **both).ids == {b.id}
    # a tampered value is named in a message and ignored, as Flask-Admin does for every filter
    page = listed(client, **{f"flt0_{args['标签', '包含任一']}": "价格"})  # typed, not picked
    assert page.ids == {a.id, b.id, c.id, d.id}
    assert any("标签筛选条件无效" in text for text in alerts(page.html))


# --- confirm and apply ------------------------------------------------------------------------------
def test_tagging_selected_rows_goes_through_a_confirmation(login, make_customer, tags):
    one, two, three = (make_customer(owner="sales1") for _ in range(3))
    client = login("sales")
    page = confirm(client, operation="tag", tag="价格敏感", mode="selected", ids=[str(one.id), str(two.id)],
                   query="search=x")
    html = html_of(page)
    assert page.status_code == 200 and "所选的 2 位客户" in html
    assert "将为 2 位客户添加标签“价格敏感”" in ps.text_of(ps.soup(html).select_one("#tag-confirm-text"))
    assert not CustomerTag.select().exists()  # nothing written yet
    done = apply(client, **confirmed_form(html))
    assert "已为 2 位客户添加标签“价格敏感”" in " ".join(alerts(html_of(done)))
    assert tag_rows() == {(one.id, "价格敏感", "manual"), (two.id, "价格敏感", "manual")}
    assert done.request.path == URL and done.request.args.get("search") == "x"  # back to the same list
    [summary] = AuditLog.select().where(AuditLog.action == "batch-tag")
    assert summary.username == "sales1" and summary.rows == 2

    page = confirm(client, operation="untag", tag="价格敏感", mode="selected", ids=[str(one.id), str(three.id)])
    text = ps.text_of(ps.soup(html_of(page)).select_one("#tag-confirm-text"))
    assert "将从 1 位客户移除手动添加的标签“价格敏感”" in text and "1 位客户没有此标签" in text
    apply(client, **confirmed_form(html_of(page)))
    assert tag_rows() == {(two.id, "价格敏感", "manual")}


def test_every_matching_row_means_the_lists_search_filters_and_scope(login, make_customer, tags):
    targets = [make_customer(owner=o, name=f"星辰科技{n}", status="意向客户")
               for n, o in enumerate(("sales1", "sales2", "sales3"))]
    make_customer(owner="sales1", name="星辰科技旧", status="潜在客户")  # another status
    make_customer(owner="sales1", name="月亮贸易", status="意向客户")  # another name
    CustomerTag.create(customer=targets[2], tag=tags["visit"])
    client = login("manager")  # team: sales1, sales2, manager
    args = filter_args(client)
    status_arg = args["客户状态", "等于"]
    query = f"search=星辰&flt0_{status_arg}=意向客户&flt1_{args['标签', '不包含']}=价格敏感&page=0"
    assert listed(client, search="星辰", **{f"flt0_{status_arg}": "意向客户"}).ids == {targets[0].id, targets[1].id}
    page = confirm(client, operation="tag", tag="价格敏感", mode="matching", query=query)
    html = html_of(page)
    scope = ps.text_of(ps.soup(html).select_one("#tag-confirm-scope"))
    assert "当前搜索和筛选匹配的全部客户：2 位" in scope
    assert "搜索“星辰”" in scope and "客户状态 等于 意向客户" in scope and "标签 不包含 价格敏感" in scope
    apply(client, **confirmed_form(html))
    assert tag_rows() == {(targets[0].id, "价格敏感", "manual"), (targets[1].id, "价格敏感", "manual"),
                          (targets[2].id, "偏好上门拜访", "manual")}
    summary = json.loads(AuditLog.get(AuditLog.action == "batch-tag").changes)
    assert summary["selection"] == "matching" and summary["criteria"]["search"] == "星辰"
    assert "客户状态 等于 意向客户" in summary["criteria"]["filters"]


def test_a_count_that_moved_asks_again(login, make_customer, tags):
    make_customer(owner="sales1", region="西北")
    client = login("sales")
    region_arg = filter_args(client)["所属地区", "等于"]
    html = html_of(confirm(client, operation="tag", tag="价格敏感", mode="matching", query=f"flt0_{region_arg}=西北"))
    make_customer(owner="sales1", region="西北")
    again = apply(client, **confirmed_form(html))
    page = html_of(again)
    assert any("确认时 1 位，现在 2 位" in text for text in alerts(page))
    assert "当前搜索和筛选匹配的全部客户：2 位" in page and not CustomerTag.select().exists()
    apply(client, **confirmed_form(page))
    assert CustomerTag.select().count() == 2


BAD = [
    ({"tag": "", "mode": "selected"}, "请选择标签"),
    ({"tag": "长" * 41}, "标签名称过长：最多 40 个字符"),
    ({"tag": "没有这个标签"}, "标签“没有这个标签”不存在"),
    ({"tag": "高价值"}, "是规则标签"),
    ({"mode": "selected", "ids": []}, "请先勾选客户"),
    ({"mode": "selected", "ids": ["abc"]}, "所选客户编号无效"),
    ({"mode": "everything"}, "请选择范围"),
    ({"operation": "delete"}, "未知的标签操作"),
    ({"query": "flt0_999=1"}, "列表地址中的参数无效：flt0_999"),
    ({"query": "owner=1"}, "列表地址中的参数无效：owner"),
    ({"query": "flt0_TAGANY=不存在"}, "筛选条件“标签 包含任一”的值无效：不存在"),
    ({"query": "flt0_REGION=火星"}, "筛选条件“所属地区 等于”的值无效：火星"),
    ({"query": "search=没有这样的客户"}, "没有符合条件的客户"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(login, make_customer, tags, change, message):
    mine = make_customer(owner="sales1")
    client = login("sales")
    args = filter_args(client)
    data = {"operation": "tag", "tag": "价格敏感", "mode": "matching", "query": "", **change}
    data["query"] = (data["query"].replace("TAGANY", args["标签", "包含任一"])
                     .replace("REGION", args["所属地区", "等于"]))
    for step in (confirm, apply):
        response = step(client, **data, expected="1") if step is apply else step(client, **data)
        if step is confirm:
            assert response.status_code == 302
            response = client.get(response.location)
        assert any(message in text for text in alerts(html_of(response))), (step.__name__, alerts(html_of(response)))
    assert not CustomerTag.select().exists() and not AuditLog.select().where(
        AuditLog.action.in_(("tag", "batch-tag"))).exists()
    assert mine.id


def test_forms_need_their_csrf_token_and_other_scopes_stay_out(login, make_customer, tags):
    mine, theirs = make_customer(owner="sales1"), make_customer(owner="sales3")
    client = login("sales")
    data = {"operation": "tag", "tag": "价格敏感", "mode": "selected", "ids": [str(mine.id)], "expected": "1"}
    response = client.post("/admin/tagbatch/apply/", data=data, follow_redirects=True)
    assert any("表单已过期" in text for text in alerts(html_of(response)))
    response = apply(client, **{**data, "expected": "一"})
    assert any("确认的客户数无效" in text for text in alerts(html_of(response)))
    response = apply(client, **{**data, "ids": [str(mine.id), str(theirs.id)], "expected": "2"})
    assert any("1 位不存在或不在您的数据范围内" in text for text in alerts(html_of(response)))
    assert not CustomerTag.select().exists()
    for role in ("service",):  # view only: the screen itself is allowed, the batch is not
        response = apply(login(role), **{**data, "ids": [str(mine.id)]})
        assert any("您没有批量添加客户标签的权限" in text for text in alerts(html_of(response)))
    assert not CustomerTag.select().exists()


def test_a_role_without_tagging_gets_403(login, make_customer, tags):
    mine = make_customer(owner="sales1")
    RolePermission.delete().where((RolePermission.role == Role.get(Role.name == "sales"))
                                  & (RolePermission.model == "tagging")).execute()
    access.bump_version()
    client = login("sales")
    response = client.post("/admin/tagbatch/confirm/", data={"csrf_token": ps.any_csrf_token(client),
                                                             "operation": "tag", "tag": "价格敏感",
                                                             "mode": "selected", "ids": [str(mine.id)]})
    assert response.status_code == 403 and not CustomerTag.select().exists()


# --- the review screen --------------------------------------------------------------------------------
def usage_rows(html):
    doc = ps.soup(html)
    return {tr["data-tag"]: {"customers": ps.text_of(tr.select_one(".customers")),
                             "state": ps.text_of(tr.select_one(".state")),
                             "retire": tr.select_one(".tag-retire") is not None}
            for tr in doc.select("#tag-usage tr[data-tag]")}


def test_review_counts_in_scope_and_retires_after_confirmation(login, make_customer, tags):
    for owner in ("sales1", "sales2", "sales3"):
        CustomerTag.create(customer=make_customer(owner=owner), tag=tags["price"])
    admin = login("admin")
    rows = usage_rows(html_of(admin.get("/admin/tagreview/")))
    assert rows["价格敏感"]["customers"] == "3" and rows["偏好上门拜访"]["state"] == "建议停用"
    assert rows["偏好上门拜访"]["retire"]
    assert usage_rows(html_of(login("manager").get("/admin/tagreview/")))["价格敏感"]["customers"] == "2"
    sales_rows = usage_rows(html_of(login("sales").get("/admin/tagreview/")))
    assert sales_rows["价格敏感"]["customers"] == "1" and not sales_rows["价格敏感"]["retire"]

    page = admin.submit("/admin/tagreview/retire/confirm/", {"tag_id": str(tags["price"].id)},
                        form_url="/admin/tagreview/")
    text = ps.text_of(ps.soup(html_of(page)).select_one("#tag-retire-text"))
    assert "停用标签“价格敏感”" in text and "有 3 位客户带有此标签" in text
    assert Tag.get_by_id(tags["price"].id).retired_at is None  # asked, not done
    done = admin.submit("/admin/tagreview/retire/", {"tag_id": str(tags["price"].id)}, form_url="/admin/tagreview/",
                        follow_redirects=True)
    assert "已停用标签“价格敏感”" in " ".join(alerts(html_of(done)))
    assert Tag.get_by_id(tags["price"].id).retired_at is not None and CustomerTag.select().count() == 3
    assert AuditLog.get(AuditLog.action == "retire").record_id == str(tags["price"].id)
    assert "已停用" in usage_rows(html_of(done))["价格敏感"]["state"]
    # the list's tag filter now labels it, and the batch bar refuses to add it
    groups = json.loads(FILTER_GROUPS_RE.search(html_of(admin.get(URL))).group(1))
    assert ["价格敏感", "价格敏感（已停用）"] in groups["标签"][0]["options"]
    response = apply(admin, operation="tag", tag="价格敏感", mode="matching", query="", expected="3")
    assert any("已停用，不能再添加" in text for text in alerts(html_of(response)))
    admin.submit("/admin/tagreview/restore/", {"tag_id": str(tags["price"].id)}, form_url="/admin/tagreview/")
    assert Tag.get_by_id(tags["price"].id).retired_at is None and AuditLog.get(AuditLog.action == "restore")


def test_only_tag_editors_may_retire(login, tags):
    for role in ("manager", "sales", "service"):
        client = login(role)
        assert client.get("/admin/tagreview/").status_code == 200
        response = client.submit("/admin/tagreview/retire/", {"tag_id": str(tags["visit"].id)},
                                 form_url=TOKEN_PAGE)
        assert response.status_code == 403, role
    assert Tag.get_by_id(tags["visit"].id).retired_at is None
    admin = login("admin")
    response = admin.post("/admin/tagreview/retire/", data={"tag_id": str(tags["visit"].id)}, follow_redirects=True)
    assert any("表单已过期" in text for text in alerts(html_of(response)))  # no CSRF token
    response = admin.submit("/admin/tagreview/retire/", {"tag_id": "abc"}, form_url="/admin/tagreview/",
                            follow_redirects=True)
    assert any("标签不存在" in text for text in alerts(html_of(response)))
    assert Tag.get_by_id(tags["visit"].id).retired_at is None and not AuditLog.select().where(
        AuditLog.action == "retire").exists()


def test_more_than_ten_tags_warns(login, make_customer, tags):
    crowded, fine = make_customer(owner="sales1"), make_customer(owner="sales1")
    extra = [Tag.create(name=f"多余标签{n:02d}", category="行为") for n in range(11)]
    for tag in extra:
        CustomerTag.create(customer=crowded, tag=tag)
    for tag in extra[:10]:
        CustomerTag.create(customer=fine, tag=tag)
    client = login("sales")
    warning = ps.soup(html_of(client.get(f"{URL}details/?id={crowded.id}"))).select_one("#tag-warning")
    assert warning is not None and "该客户有 11 个标签，超过 10 个" in ps.text_of(warning)
    assert 'id="tag-warning"' not in html_of(client.get(f"{URL}details/?id={fine.id}"))
    doc = ps.soup(html_of(client.get(URL)))
    badges = {int(td.find_parent("tr").select_one("input.action-checkbox")["value"]): ps.text_of(td)
              for td in doc.select("td.customer-tags")}
    assert "标签过多：11 个" in badges[crowded.id] and "标签过多" not in badges[fine.id]
    review = html_of(login("admin").get("/admin/tagreview/"))
    assert "您的数据范围内有 1 位客户的标签超过 10 个" in ps.text_of(ps.soup(review).select_one("#tag-crowded"))


# --- one tag at a time, and the library --------------------------------------------------------------
def test_customer_tag_screen_leaves_rule_rows_to_the_rules(login, make_customer, tags):
    customer = make_customer(owner="sales1")
    by_rule = CustomerTag.create(customer=customer, tag=tags["vip"], source="rule")
    by_hand = CustomerTag.create(customer=customer, tag=tags["price"])
    client = login("sales")
    response = ps.submit_form(client, "/admin/customertag/new/", {"customer": str(customer.id),
                                                                  "tag": str(tags["vip"].id)})
    assert any("是规则标签" in e for e in ps.flashed_errors(html_of(response)))
    client.submit("/admin/customertag/delete/", {"id": str(by_rule.id), "url": "/admin/customertag/"},
                  form_url="/admin/customertag/")
    assert CustomerTag.get_or_none(CustomerTag.id == by_rule.id) is not None
    response = client.submit("/admin/customertag/action/", {"action": "delete", "url": "/admin/customertag/",
                                                            "rowid": [str(by_rule.id), str(by_hand.id)]},
                             form_url="/admin/customertag/", follow_redirects=True)
    assert any("1 条由规则添加的客户标签未删除" in text for text in alerts(html_of(response)))
    assert {ct.id for ct in CustomerTag.select()} == {by_rule.id}


def test_tag_library_form_checks_names_and_refreshes_the_filters(login, tags):
    admin = login("admin")
    before = filter_args(admin)
    assert before  # the variant with the filters is built
    response = ps.submit_form(admin, "/admin/tag/new/", {"name": "新标签", "category": "行为", "source": "manual"})
    assert response.status_code == 302, ps.flashed_errors(html_of(response))
    groups = json.loads(FILTER_GROUPS_RE.search(html_of(admin.get(URL))).group(1))
    assert "新标签" in [label for _, label in groups["标签"][0]["options"]]  # no restart needed
    for name, message in (("长" * 41, "40"), ("价格敏感", "已存在"), ("甲,乙", "逗号"), ("  ", "")):
        response = ps.submit_form(admin, "/admin/tag/new/", {"name": name, "category": "行为", "source": "manual"})
        assert response.status_code == 200
        errors = " ".join(ps.flashed_errors(html_of(response)))
        assert errors and message in errors, (name, errors)
    assert Tag.select().count() == 4
