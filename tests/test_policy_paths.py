"""The access policy on the paths around the screens: bulk and single delete, direct URLs,
search, filters, sorting, exports, crafted POSTs, owner assignment, policy edits without a
restart, concurrent requests of different roles, and a custom role made in the admin.

Expectations here are the issue's requirements for the default policy; the generated
role x model x column matrix lives in test_policy_matrix.py.
"""
import datetime
import decimal
import json
import re
import threading

import pytest

import access
from admin.labels import labels_for
from models import (AuditLog, ColumnRule, Customer, FollowUp, Order, Role, RolePermission, StatusChange, User,
                    db)
from tests import policy_support as ps

FILTER_GROUPS_RE = re.compile(r'id="filter-groups-data" class="d-none">(.*?)</div>', re.S)


def post(client, url, data):
    """POST with a valid CSRF token of the client's session."""
    payload = dict(data)
    payload["csrf_token"] = ps.any_csrf_token(client)
    return client.post(url, data=payload)


def listed(client, url, **query):
    response = client.get(url, query_string=query)
    assert response.status_code == 200, f"{url} {query}: {response.status_code}"
    return ps.ListPage(response.get_data(as_text=True))


def exists(model, record_id):
    return model.get_or_none(model.id == record_id) is not None


def grant_actions(role_name, models_, **flags):
    """Change a role's permissions in the policy tables, as the role screen would, and publish it."""
    role = Role.get(Role.name == role_name)
    RolePermission.update(**flags).where((RolePermission.role == role) & (RolePermission.model.in_(models_))).execute()
    access.bump_version()


def follow_up(customer, content="跟进"):
    return FollowUp.create(customer=customer, method="电话", content=content)


# --- direct URLs and single delete: out of scope is 404 ---------------------------------
def test_out_of_scope_records_answer_404_on_details_and_edit(login, make_customer, make_order):
    mine = make_customer(owner="sales1", name="本人客户甲")
    theirs = make_customer(owner="sales2", name="同组客户乙")
    other_team = make_customer(owner="sales3", name="他组客户丙")
    records = {
        "mine": {"customer": mine, "order": make_order(mine), "followup": follow_up(mine)},
        "theirs": {"customer": theirs, "order": make_order(theirs), "followup": follow_up(theirs)},
        "other_team": {"customer": other_team, "order": make_order(other_team), "followup": follow_up(other_team)},
    }
    reach = {"sales": {"mine"}, "manager": {"mine", "theirs"}}
    for role, reachable in reach.items():
        client = login(role)
        for whose, by_model in records.items():
            for model, record in by_model.items():
                for page in ("details", "edit"):
                    response = client.get(f"/admin/{model}/{page}/?id={record.id}")
                    expected = 200 if whose in reachable else 404
                    assert response.status_code == expected, f"{role} {page} of {whose} {model}"
                    if expected == 404:
                        assert records[whose]["customer"].name not in response.get_data(as_text=True)
        # out of scope looks exactly like missing
        assert client.get("/admin/customer/details/?id=999999").status_code == 404
        assert client.get("/admin/customer/edit/?id=not-a-number").status_code == 404


def test_edit_post_to_out_of_scope_record_changes_nothing(login, make_customer):
    theirs = make_customer(owner="sales2", name="不可改客户", contact="原联系人")
    sales = login("sales")
    assert sales.get(f"/admin/customer/edit/?id={theirs.id}").status_code == 404
    response = post(sales, f"/admin/customer/edit/?id={theirs.id}",
                    {"name": "被改名", "contact": "被改联系人", "mobile": "13700000000", "customer_type": "企业"})
    assert response.status_code == 404
    after = Customer.get_by_id(theirs.id)
    assert (after.name, after.contact, after.owner_id) == ("不可改客户", "原联系人", theirs.owner_id)


def test_single_delete_of_out_of_scope_record_is_404_and_deletes_nothing(login, make_customer, make_order):
    other_team = make_customer(owner="sales3")
    in_team = make_customer(owner="sales2")
    other_order, team_order = make_order(other_team), make_order(in_team)
    manager = login("manager")
    for model, record in (("order", other_order), ("customer", other_team)):
        response = post(manager, f"/admin/{model}/delete/", {"id": record.id, "url": f"/admin/{model}/"})
        assert response.status_code == 404, f"delete of another team's {model}"
    assert exists(Customer, other_team.id) and exists(Order, other_order.id)
    for model, record in (("order", team_order), ("customer", in_team)):
        response = post(manager, f"/admin/{model}/delete/", {"id": record.id, "url": f"/admin/{model}/"})
        assert response.status_code == 302
    assert not exists(Order, team_order.id) and not exists(Customer, in_team.id)


# --- bulk actions ------------------------------------------------------------------------
def test_bulk_delete_deletes_only_rows_in_scope(login, make_customer, make_order):
    owners = ("sales1", "sales2", "manager", "sales3", "manager2", None)
    customers = {o: make_customer(owner=o) for o in owners}
    orders = {o: make_order(c) for o, c in customers.items()}
    followups = {o: follow_up(c) for o, c in customers.items()}
    manager = login("manager")
    team = {"sales1", "sales2", "manager"}
    for model, rows, model_class in (("order", orders, Order), ("followup", followups, FollowUp),
                                     ("customer", customers, Customer)):
        ids = [str(r.id) for r in rows.values()] + ["999999", "junk"]
        response = post(manager, f"/admin/{model}/action/",
                        {"action": "delete", "rowid": ids, "url": f"/admin/{model}/"})
        assert response.status_code == 302
        for owner, row in rows.items():
            assert exists(model_class, row.id) == (owner not in team), f"bulk delete of {owner}'s {model}"


def test_bulk_delete_needs_the_delete_permission(login, make_customer, make_order):
    own = make_customer(owner="sales1")
    order = make_order(own)
    for role in ("sales", "service"):  # sales: own scope, service: all scope; neither may delete
        client = login(role)
        for model, record, model_class in (("customer", own, Customer), ("order", order, Order)):
            response = post(client, f"/admin/{model}/action/",
                            {"action": "delete", "rowid": [str(record.id)], "url": f"/admin/{model}/"})
            assert response.status_code in (302, 403)
            assert exists(model_class, record.id), f"{role} bulk-deleted a {model} without delete permission"
            response = post(client, f"/admin/{model}/delete/", {"id": record.id, "url": f"/admin/{model}/"})
            assert exists(model_class, record.id), f"{role} deleted a {model} without delete permission"


# --- search ------------------------------------------------------------------------------
def test_masked_mobile_is_found_only_by_the_full_number(login, make_customer):
    target = make_customer(owner="sales1", name="搜索目标", mobile="13812345678")
    decoy = make_customer(owner="sales1", name="搜索对照", mobile="13912345670")
    service = login("service")
    for term in ("13812345678", "+86 138-1234-5678", "138 1234 5678"):
        page = listed(service, "/admin/customer/", search=term)
        assert page.ids == {target.id}, f"full number {term!r}"
        assert page.rows[target.id]["mobile"] == "138****5678"
        assert "13812345678" not in " ".join(" ".join(row.values()) for row in page.rows.values())
    for term in ("1381234", "12345678", "2345", "5678", "138****5678", "1381234567"):
        assert listed(service, "/admin/customer/", search=term).ids == set(), f"fragment {term!r} found a record"
    sales = login("sales")  # mobile in clear: fragments work
    assert listed(sales, "/admin/customer/", search="1234567").ids == {target.id, decoy.id}
    assert listed(sales, "/admin/customer/", search="5678").ids == {target.id}


def test_sealed_id_number_is_found_only_by_the_full_value(login, make_customer):
    target = make_customer(owner="sales1", name="证件目标", id_number="11010119900101123X",
                           bank_account="6222021234567890123")
    make_customer(owner="sales1", name="证件对照", id_number="110101198001019999")
    for role in ("sales", "manager", "service", "admin"):
        client = login(role)
        for term in ("11010119900101123X", "11010119900101123x", "6222021234567890123"):
            assert listed(client, "/admin/customer/", search=term).ids == {target.id}, f"{role}: {term!r}"
        for term in ("19900101", "123X", "110101", "110***********123X", "622202123456789012", "0123"):
            assert target.id not in listed(client, "/admin/customer/", search=term).ids, f"{role}: {term!r}"
    details = login("service").get(f"/admin/customer/details/?id={target.id}").get_data(as_text=True)
    assert "110***********123X" in details and "11010119900101123X" not in details


def test_hidden_column_is_not_searchable_or_filterable(login, make_customer, make_order):
    small = make_customer(owner="sales1", name="小客户", annual_revenue=decimal.Decimal("100.00"))
    big = make_customer(owner="sales1", name="大客户", annual_revenue=decimal.Decimal("400.00"))
    make_order(small, amount="10.00")
    make_order(big, amount="9000.00")
    admin, service = login("admin"), login("service")
    for model, hidden in (("customer", "annual_revenue"), ("order", "amount")):
        label = labels_for(model, "zh")[hidden]
        admin_page = admin.get(f"/admin/{model}/").get_data(as_text=True)
        admin_groups = json.loads(FILTER_GROUPS_RE.search(admin_page).group(1))
        service_page = service.get(f"/admin/{model}/").get_data(as_text=True)
        service_groups = json.loads(FILTER_GROUPS_RE.search(service_page).group(1))
        assert label in admin_groups and label not in service_groups
        args = [entry["arg"] for entry in admin_groups[label]]
        thresholds = ("5", "200", "5000", "100.00", "400.00", "9000.00")
        # the admin's filter (positive control) tells the rows apart by the hidden value ...
        greater = next(e["arg"] for e in admin_groups[label] if e["operation"] in ("大于", "greater than"))
        assert len({frozenset(listed(admin, f"/admin/{model}/", **{f"flt0_{greater}": v}).ids)
                    for v in thresholds}) > 1
        # ... the same URL arguments from service never do: each index is ignored, or means one of
        # service's own (visible) filters, which answers alike for every threshold
        for arg in args:
            seen = {v: frozenset(listed(service, f"/admin/{model}/", **{f"flt0_{arg}": v}).ids) for v in thresholds}
            assert len(set(seen.values())) == 1, f"service's {model} rows depend on hidden {hidden}: {seen}"
        for value in ("400", "400.00", "9000.00"):
            assert listed(service, f"/admin/{model}/", search=value).ids == set()


def set_rule(role_name, model, column, level):
    """Write one column rule of a role to the policy tables and publish the new version."""
    role = Role.get(Role.name == role_name)
    ColumnRule.insert(role=role, model=model, column=column, access=level).on_conflict(
        conflict_target=[ColumnRule.role, ColumnRule.model, ColumnRule.column],
        update={ColumnRule.access: level}).execute()
    access.bump_version()


def test_hidden_searchable_column_is_not_found_even_by_its_full_value(login, make_customer):
    """Search kinds of hidden columns are dropped: not even an exact full-value match answers."""
    target = make_customer(owner="sales1", name="普通名称", contact="隐藏联系人丁", email="hidden.person@example.com")
    service, admin = login("service"), login("admin")
    for term in ("隐藏联系人丁", "hidden.person@example.com"):  # positive control: searchable while visible
        assert listed(service, "/admin/customer/", search=term).ids == {target.id}
    set_rule("service", "customer", "contact", "hidden")
    set_rule("service", "customer", "email", "hidden")
    for term in ("隐藏联系人丁", "联系人丁", "hidden.person@example.com"):
        assert listed(service, "/admin/customer/", search=term).ids == set(), f"hidden column found by {term!r}"
        assert listed(admin, "/admin/customer/", search=term).ids == {target.id}


# --- sorting -----------------------------------------------------------------------------
def _sorted_ids(client, url, index, desc):
    """Ids in the order a crafted ?sort= returns; None when the request fails."""
    try:
        response = client.get(url, query_string={"sort": index, **({"desc": 1} if desc else {})})
    except Exception:  # noqa: BLE001 (a crash reveals no order; test_crafted_sort_index... reports it)
        return None
    if response.status_code != 200:
        return None
    return ps.ListPage(response.get_data(as_text=True)).order


@pytest.fixture
def sort_customers(make_customer):
    """Four customers whose revenue and mobile orders differ from every clear column's order."""
    rows = [("排序A", 300, "13800000003"), ("排序B", 100, "13800000009"), ("排序C", 400, "13800000001"),
            ("排序D", 200, "13800000005")]
    made = [make_customer(owner="sales1", name=name, annual_revenue=decimal.Decimal(rev), mobile=mobile,
                          first_contact=datetime.date(2024, 1, 1 + i)) for i, (name, rev, mobile) in enumerate(rows)]
    by = lambda key: [c.id for c in sorted(made, key=key)]  # noqa: E731
    secret = {"annual_revenue": by(lambda c: c.annual_revenue), "mobile": by(lambda c: c.mobile)}
    return made, secret


def test_sorting_never_reveals_hidden_or_masked_order(login, sort_customers):
    made, secret = sort_customers
    forbidden = {tuple(o) for o in secret.values()} | {tuple(reversed(o)) for o in secret.values()}
    service = login("service")
    page = listed(service, "/admin/customer/")
    assert "annual_revenue" not in page.headers and "mobile" not in page.sortable
    for index in range(len(page.headers) + 8):
        for desc in (False, True):
            order = _sorted_ids(service, "/admin/customer/", index, desc)
            if order is not None:
                assert tuple(order) not in forbidden, f"?sort={index}&desc={int(desc)} reveals a secret order"
    # positive control: where revenue is visible, sorting by it does give that order
    admin = login("admin")
    columns = list(listed(admin, "/admin/customer/").headers)
    assert _sorted_ids(admin, "/admin/customer/", columns.index("annual_revenue"), False) == secret["annual_revenue"]


def test_masked_column_is_not_sortable(login, sort_customers):
    """A sortable column turned masked loses its sort link, and ?sort= of it does not order by it."""
    made, secret = sort_customers
    set_rule("service", "customer", "annual_revenue", "masked")
    service = login("service")
    page = listed(service, "/admin/customer/")
    assert "annual_revenue" in page.headers and "annual_revenue" not in page.sortable
    stored_value = Customer.get_by_id(made[0].id).annual_revenue
    assert page.rows[made[0].id]["annual_revenue"] == access.mask(stored_value)
    assert str(stored_value) not in page.rows[made[0].id]["annual_revenue"]
    index = list(page.headers).index("annual_revenue")
    forbidden = {tuple(secret["annual_revenue"]), tuple(reversed(secret["annual_revenue"]))}
    for desc in (False, True):
        assert tuple(_sorted_ids(service, "/admin/customer/", index, desc) or ()) not in forbidden


def test_crafted_sort_index_is_ignored_not_an_error(login, sort_customers):
    """Any ?sort= index, including ones of non-sortable columns, answers 200 in the default order."""
    problems = []
    for role in ("service", "sales", "admin"):
        client = login(role)
        columns = list(listed(client, "/admin/customer/").headers)
        for index in range(len(columns) + 2):
            try:
                status = client.get("/admin/customer/", query_string={"sort": index}).status_code
            except Exception as error:  # noqa: BLE001 (the test client re-raises the app's exception)
                status = f"{type(error).__name__}: {error}"
            if status != 200:
                column = columns[index] if index < len(columns) else "-"
                problems.append(f"{role} ?sort={index} ({column}): {status}")
    assert not problems, "\n".join(problems)


# --- exports -----------------------------------------------------------------------------
def test_export_leaves_hidden_columns_out_and_masks_masked_ones(login, make_customer, make_order):
    customer = make_customer(owner="sales1", name="导出客户", mobile="13812345678", id_number="110101199001011234",
                             bank_account="6222021234567890123", annual_revenue=decimal.Decimal("98765432.17"))
    make_order(customer, amount="7654.32", order_no="SO-EXPORT-1")
    grant_actions("service", ("customer", "order"), can_export=True)  # service exports nothing by default
    service = login("service")
    secrets = ("13812345678", "110101199001011234", "6222021234567890123", "98765432.17", "7654.32")
    for kind in ("csv", "xlsx"):
        response = service.get(f"/admin/customer/export/{kind}/")
        assert response.status_code == 200
        header, rows = ps.csv_table(response) if kind == "csv" else ps.xlsx_table(response)
        assert "年营收" not in header and "手机号码" in header
        row = next(r for r in rows if r[header.index("客户名称")] == "导出客户")
        assert row[header.index("手机号码")] == "138****5678"
        assert row[header.index("身份证号")] == "110***********1234"
        assert row[header.index("银行卡号")] == "622************0123"
        assert not [s for s in secrets if any(s in cell for r in [header] + rows for cell in r)]
        response = service.get(f"/admin/order/export/{kind}/")
        header, rows = ps.csv_table(response) if kind == "csv" else ps.xlsx_table(response)
        assert "金额" not in header and "订单号" in header
        assert any(r[header.index("订单号")] == "SO-EXPORT-1" for r in rows)
        assert not any("7654.32" in cell for r in rows for cell in r)
    audit = AuditLog.select().where((AuditLog.username == "service") & (AuditLog.action == "export")
                                    & (AuditLog.model == "customer")).order_by(AuditLog.id.desc()).first()
    assert audit is not None and "annual_revenue" not in json.loads(audit.changes)["columns"]


def test_admin_export_has_everything_in_clear(login, make_customer):
    make_customer(owner="sales3", name="全量导出", mobile="13812345678", id_number="110101199001011234",
                  annual_revenue=decimal.Decimal("98765432.17"))
    header, rows = ps.csv_table(login("admin").get("/admin/customer/export/csv/"))
    row = next(r for r in rows if r[header.index("客户名称")] == "全量导出")
    assert row[header.index("手机号码")] == "13812345678"
    assert row[header.index("身份证号")] == "110101199001011234"
    assert decimal.Decimal(row[header.index("年营收")]) == decimal.Decimal("98765432.17")


# --- crafted POSTs of fields a role may not write ------------------------------------------
def test_crafted_post_of_hidden_masked_and_readonly_fields_changes_nothing(login, make_customer, make_order, users):
    customer = make_customer(owner="sales1", name="防篡改客户", mobile="13812345678", id_number="110101199001011234",
                             annual_revenue=decimal.Decimal("500.00"))
    order = make_order(customer, amount="7654.32", product="原产品")
    grant_actions("service", ("customer", "order"), can_edit=True)
    service = login("service")
    form = service.get(f"/admin/customer/edit/?id={customer.id}").get_data(as_text=True)
    assert not {"annual_revenue", "mobile", "id_number", "bank_account"} & ps.form_field_names(form)
    response = ps.submit_form(service, f"/admin/customer/edit/?id={customer.id}", {
        "name": "已改名", "annual_revenue": "1.00", "mobile": "13900000000", "id_number": "440301199202023456",
        "bank_account": "6228480000000000077"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    after = Customer.get_by_id(customer.id)
    assert after.name == "已改名", "the save itself must go through"
    assert (after.annual_revenue, after.mobile, after.id_number, after.bank_account) == (
        decimal.Decimal("500.00"), "13812345678", "110101199001011234", None)
    response = ps.submit_form(service, f"/admin/order/edit/?id={order.id}", {"product": "新产品", "amount": "1.00"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    after = Order.get_by_id(order.id)
    assert (after.product, after.amount) == ("新产品", decimal.Decimal("7654.32"))
    # sales: owner read-only, ID masked
    sales = login("sales")
    response = ps.submit_form(sales, f"/admin/customer/edit/?id={customer.id}", {
        "contact": "销售改的", "owner": str(users["sales2"].id), "id_number": "440301199202023456"})
    assert response.status_code == 302
    after = Customer.get_by_id(customer.id)
    assert (after.contact, after.owner_id, after.id_number) == ("销售改的", users["sales1"].id, "110101199001011234")


# --- owners --------------------------------------------------------------------------------
NEW_CUSTOMER = {"name": "新建客户", "customer_type": "企业", "mobile": "13711112222", "region": "华北",
                "industry": "互联网", "first_contact": "2024-03-01"}


def test_sales_new_customer_is_theirs_whatever_owner_is_posted(login, users):
    sales = login("sales")
    response = ps.submit_form(sales, "/admin/customer/new/", {**NEW_CUSTOMER, "owner": str(users["sales2"].id)})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    created = Customer.get(Customer.name == "新建客户")
    assert created.owner_id == users["sales1"].id
    assert StatusChange.select().where(StatusChange.customer == created).count() == 1


def test_sales_cannot_reassign_their_customer(login, make_customer, users):
    mine = make_customer(owner="sales1", name="我的客户")
    sales = login("sales")
    response = ps.submit_form(sales, f"/admin/customer/edit/?id={mine.id}",
                              {"owner": str(users["sales2"].id), "notes": "改了备注"})
    assert response.status_code == 302
    after = Customer.get_by_id(mine.id)
    assert (after.owner_id, after.notes) == (users["sales1"].id, "改了备注")


def test_manager_cannot_assign_an_owner_outside_the_team(login, make_customer, users):
    customer = make_customer(owner="sales1", name="团队客户", contact="原联系人")
    manager = login("manager")
    response = ps.submit_form(manager, f"/admin/customer/edit/?id={customer.id}",
                              {"owner": str(users["sales3"].id), "contact": "不应保存"})
    assert response.status_code == 200
    assert "负责人只能是您的数据范围内的用户" in response.get_data(as_text=True)
    after = Customer.get_by_id(customer.id)
    assert (after.owner_id, after.contact) == (users["sales1"].id, "原联系人")
    before = Customer.select().count()
    response = ps.submit_form(manager, "/admin/customer/new/", {**NEW_CUSTOMER, "owner": str(users["manager2"].id)})
    assert "负责人只能是您的数据范围内的用户" in response.get_data(as_text=True)
    assert Customer.select().count() == before
    # the picker offers the team only
    offered = manager.get("/admin/customer/ajax/lookup/", query_string={"name": "owner", "query": "s"}).get_json()
    names = {User.get_by_id(item[0]).username for item in offered}
    assert names and names <= {"manager", "sales1", "sales2"}
    assert not names & {"sales3", "manager2", "admin", "service"}


def test_manager_assigns_an_owner_within_the_team(login, make_customer, users):
    customer = make_customer(owner="sales1", name="转交客户")
    manager = login("manager")
    response = ps.submit_form(manager, f"/admin/customer/edit/?id={customer.id}", {"owner": str(users["sales2"].id)})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert Customer.get_by_id(customer.id).owner_id == users["sales2"].id
    response = ps.submit_form(manager, "/admin/customer/new/", {**NEW_CUSTOMER, "owner": str(users["sales1"].id)})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert Customer.get(Customer.name == "新建客户").owner_id == users["sales1"].id
    # admin may pick anyone
    response = ps.submit_form(login("admin"), f"/admin/customer/edit/?id={customer.id}",
                              {"owner": str(users["sales3"].id)})
    assert response.status_code == 302
    assert Customer.get_by_id(customer.id).owner_id == users["sales3"].id


def test_child_record_for_an_out_of_scope_customer_is_refused(login, make_customer):
    theirs = make_customer(owner="sales2", name="别组客户")
    sales = login("sales")
    before = FollowUp.select().count()
    response = ps.submit_form(sales, "/admin/followup/new/", {"customer": str(theirs.id), "method": "电话",
                                                              "content": "越权跟进", "at": "2024-03-01 10:00:00"})
    assert response.status_code == 200
    assert FollowUp.select().count() == before
    assert "别组客户" not in response.get_data(as_text=True)


# --- policy edits take effect on the next request ----------------------------------------
def test_policy_edit_in_the_role_screen_applies_on_the_next_request(login, make_customer):
    customer = make_customer(owner="sales1", name="策略客户", mobile="13812345678")
    service, admin = login("service"), login("admin")
    assert "138****5678" in service.get("/admin/customer/").get_data(as_text=True)
    role = Role.get(Role.name == "service")
    url = f"/admin/role/edit/?id={role.id}"
    version = access.current_version()

    response = ps.submit_form(admin, url, {"rule.customer.mobile": "readonly"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert access.current_version() != version
    page = listed(service, "/admin/customer/")  # same session, no restart
    assert page.rows[customer.id]["mobile"] == "13812345678"
    assert listed(service, "/admin/customer/", search="1234567").ids == {customer.id}

    response = ps.submit_form(admin, url, {"rule.customer.mobile": "hidden"})
    assert response.status_code == 302
    page = listed(service, "/admin/customer/")
    assert "mobile" not in page.headers and "13812345678" not in page.html and "138****5678" not in page.html
    details = service.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert "手机号码" not in ps.details_table(details)

    response = ps.submit_form(admin, url, {"perm.customer.view": None})
    assert response.status_code == 302
    assert service.get("/admin/customer/").status_code == 403
    assert 'href="/admin/customer/"' not in service.get("/admin/").get_data(as_text=True)


def test_policy_table_change_applies_after_bump_version(login, make_customer):
    make_customer(owner="sales1", name="版本客户", mobile="13812345678", annual_revenue=decimal.Decimal("321.00"))
    service = login("service")
    assert "年营收" not in listed(service, "/admin/customer/").headers.values()
    role = Role.get(Role.name == "service")
    ColumnRule.update(access="readonly").where((ColumnRule.role == role) & (ColumnRule.column == "annual_revenue")
                                               ).execute()
    ColumnRule.update(access="hidden").where((ColumnRule.role == role) & (ColumnRule.column == "mobile")).execute()
    access.bump_version()
    page = listed(service, "/admin/customer/")
    assert page.headers.get("annual_revenue") == "年营收" and "mobile" not in page.headers
    assert "¥321.00" in page.html and "138****5678" not in page.html


# --- concurrency --------------------------------------------------------------------------
def test_concurrent_requests_of_different_roles_never_share_columns(app, login, make_customer):
    customer = make_customer(owner="sales1", name="并发客户", mobile="13812345678",
                             annual_revenue=decimal.Decimal("98765432.17"))
    clients = {"admin": [login("admin"), login("admin")], "service": [login("service"), login("service")]}
    rounds = 15
    start = threading.Barrier(len(clients["admin"]) + len(clients["service"]) + 1)
    results, errors = [], []

    def hammer(role, client):
        try:
            start.wait()
            for _ in range(rounds):
                response = client.get("/admin/customer/")
                results.append((role, response.status_code, response.get_data(as_text=True)))
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
        finally:
            db.close()

    def churn():  # new policy versions while the others read: variants are rebuilt under load
        try:
            start.wait()
            for _ in range(rounds // 3):
                access.bump_version()
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
        finally:
            db.close()

    threads = [threading.Thread(target=hammer, args=(role, c)) for role, cs in clients.items() for c in cs]
    threads.append(threading.Thread(target=churn))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == rounds * 4
    for role, status, html in results:
        assert status == 200, role
        page = ps.ListPage(html)
        if role == "service":
            assert "13812345678" not in html and "98,765,432.17" not in html and "年营收" not in html
            assert page.rows[customer.id]["mobile"] == "138****5678"
            assert "annual_revenue" not in page.headers
        else:
            assert page.rows[customer.id]["mobile"] == "13812345678"
            assert page.headers.get("annual_revenue") == "年营收" and "¥98,765,432.17" in html


# --- a custom role ---------------------------------------------------------------------------
KEY_ACCOUNT_PERMISSIONS = {"customer": ("view", "create", "edit"), "order": ("view",)}
KEY_ACCOUNT_RULES = {("customer", "bank_account"): "hidden", ("customer", "mobile"): "masked",
                     ("customer", "owner"): "readonly"}


def _check_key_account_user(client, user, make_customer, users):
    """A 大客户销售 user: own customers only, masked mobile, no bank card, owner fixed, no follow-ups, no deletes."""
    own = make_customer(owner=None, name="大客户自有", mobile="13812345678", bank_account="6222021234567890123")
    Customer.update(owner=user).where(Customer.id == own.id).execute()
    other = make_customer(owner="sales1", name="普通销售客户")
    assert "大客户销售" in client.get("/admin/").get_data(as_text=True)
    page = listed(client, "/admin/customer/")
    assert own.id in page.ids and other.id not in page.ids
    assert page.rows[own.id]["mobile"] == "138****5678"
    details = client.get(f"/admin/customer/details/?id={own.id}").get_data(as_text=True)
    assert "银行卡号" not in ps.details_table(details) and "6222021234567890123" not in details
    assert client.get(f"/admin/customer/details/?id={other.id}").status_code == 404
    assert client.get("/admin/order/").status_code == 200
    assert client.get("/admin/order/new/").status_code == 302
    for screen in ("followup", "feedback", "user", "role", "auditlog"):
        assert client.get(f"/admin/{screen}/").status_code == 403, screen
    assert client.get("/admin/customer/export/csv/").status_code == 302
    post(client, "/admin/customer/delete/", {"id": own.id, "url": "/admin/customer/"})
    assert exists(Customer, own.id)
    # mobile is masked, so the form has no mobile field: the phone is the contact number
    response = ps.submit_form(client, "/admin/customer/new/",
                              {**NEW_CUSTOMER, "phone": "010-12345678", "owner": str(users["sales1"].id)})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    created = Customer.get(Customer.name == "新建客户")
    assert created.owner_id == user.id and created.mobile is None


def _assign_role_in_admin(admin, username, role):
    """Create the user in the user screen with the given role; returns the User."""
    response = ps.submit_form(admin, "/admin/user/new/", {
        "username": username, "display_name": "大客户经理甲", "role": str(role.id), "active": "y",
        "must_change_password": None, "new_password": "key-account-123"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    user = User.get(User.username == username)
    assert user.role_id == role.id
    return user


def test_custom_role_created_in_the_role_screen_governs_its_users(app, login, make_customer, users):
    """Admin makes 大客户销售 in 角色权限's grid exactly as a browser posts it (every tick box and level)."""
    admin = login("admin")
    data = {"name": "key_account", "label": "大客户销售", "row_scope": "own", "description": "重点客户"}
    data.update({f"perm.{model}.{a}": "y" for model, actions in KEY_ACCOUNT_PERMISSIONS.items() for a in actions})
    data.update({f"rule.{model}.{column}": level for (model, column), level in KEY_ACCOUNT_RULES.items()})
    response = ps.submit_form(admin, "/admin/role/new/", data)
    assert response.status_code == 302, f"role not saved: {ps.flashed_errors(response.get_data(as_text=True))}"
    role = Role.get(Role.name == "key_account")
    assert {p.model: {a for a in ("view", "create", "edit", "delete", "export") if getattr(p, "can_" + a)}
            for p in role.permissions} == {m: set(a) for m, a in KEY_ACCOUNT_PERMISSIONS.items()}
    assert {(r.model, r.column): r.access for r in role.column_rules} == KEY_ACCOUNT_RULES
    user = _assign_role_in_admin(admin, "ka1", role)
    client = ps.login_client(app, "ka1", "key-account-123")
    _check_key_account_user(client, user, make_customer, users)


def test_custom_role_defined_as_data_governs_its_users(app, login, make_customer, users):
    """The same role written to the policy tables; assigned to a user in the user screen."""
    role = Role.create(name="key_account", label="大客户销售", row_scope="own")
    for model, actions in KEY_ACCOUNT_PERMISSIONS.items():
        RolePermission.create(role=role, model=model, **{"can_" + a: True for a in actions})
    for (model, column), level in KEY_ACCOUNT_RULES.items():
        ColumnRule.create(role=role, model=model, column=column, access=level)
    access.bump_version()
    user = _assign_role_in_admin(login("admin"), "ka1", role)
    client = ps.login_client(app, "ka1", "key-account-123")
    _check_key_account_user(client, user, make_customer, users)


def test_changing_a_users_role_applies_to_their_open_session(login, make_customer, users):
    theirs = make_customer(owner="sales2", name="换角色可见")
    sales3 = login(username="sales3")
    assert sales3.get(f"/admin/customer/details/?id={theirs.id}").status_code == 404
    service_role = Role.get(Role.name == "service")
    response = ps.submit_form(login("admin"), f"/admin/user/edit/?id={users['sales3'].id}",
                              {"role": str(service_role.id)})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    response = sales3.get(f"/admin/customer/details/?id={theirs.id}")  # same session: the new role's grant
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "换角色可见" in html
    assert access.mask(theirs.mobile) in html and theirs.mobile not in html
    assert sales3.get("/admin/customer/new/").status_code == 302  # service may not create customers
