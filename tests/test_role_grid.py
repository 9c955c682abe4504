"""系统管理 → 角色权限 as a grid (admin/role_grid.py, access/roles.py): a custom role set up in one page and one submit,
saved exactly as ticked, enforced on the next request; crafted posts refused in Chinese with nothing changed; no
admin can lock themselves out."""
import json

import access
from models import AuditLog, ColumnRule, Role, RolePermission, User
from tests import policy_support as ps
from tests.conftest import PASSWORD

# 大客户销售: the team's customers, no create, export; orders read-only amounts; follow-ups recorded
TICKED = {"customer": {"view", "edit", "export"}, "order": {"view"}, "followup": {"view", "create"}}
LEVELS = {("customer", "mobile"): "masked", ("customer", "annual_revenue"): "hidden", ("customer", "name"): "readonly"}


def _grid(changes):
    data = {"name": "key_account", "label": "大客户销售", "row_scope": "team", "description": "重点客户"}
    data.update({f"perm.{key}.{action}": "y" for key, actions in TICKED.items() for action in actions})
    data.update({f"rule.{key}.{column}": level for (key, column), level in LEVELS.items()})
    data.update(changes)
    return data


def _stored(role):
    actions = {p.model: {a for a in ("view", "create", "edit", "delete", "export") if getattr(p, "can_" + a)}
               for p in RolePermission.select().where(RolePermission.role == role)}
    rules = {(r.model, r.column): r.access for r in ColumnRule.select().where(ColumnRule.role == role)}
    return actions, rules


def _key_account_user(role, manager):
    user = User(username="ka1", display_name="大客户甲", role=role, manager=manager, must_change_password=False)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_the_grid_saves_exactly_what_was_ticked_and_the_policy_enforces_it(app, login, users, make_customer):
    admin = login("admin")
    page = admin.get("/admin/role/new/").get_data(as_text=True)
    assert 'name="perm.customer.export"' in page and 'name="rule.customer.mobile"' in page and "字段规则" in page
    version = access.current_version()
    # every tick box and level as the browser posts the page, with the role's ticks and levels applied
    form = {k: v for k, v in ps.form_values(page).items() if not k.startswith("perm.")}
    response = admin.post("/admin/role/new/", data={**form, **_grid({})})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    role = Role.get(Role.name == "key_account")
    assert (role.label, role.row_scope, role.description) == ("大客户销售", "team", "重点客户")
    assert _stored(role) == (TICKED, LEVELS)  # editable columns need no rule; unticked keys no row
    assert access.current_version() != version
    [entry] = AuditLog.select().where((AuditLog.model == "role") & (AuditLog.action == "create"))
    changes = json.loads(entry.changes)
    assert changes["perm.customer"] == [None, "view edit export"] and changes["column.customer.mobile"] == [None, "masked"]
    assert entry.record_id == str(role.id) and entry.username == "admin"

    mine = make_customer(owner="sales1", name="大客户甲方", mobile="13812345678", annual_revenue="98765432.17")
    theirs = make_customer(owner="sales3", name="别队客户")
    _key_account_user(role, users["manager"])  # in manager's team: sales1's customer is in scope
    client = ps.login_client(app, "ka1")
    listed = ps.ListPage(client.get("/admin/customer/").get_data(as_text=True))
    assert mine.id in listed.ids and theirs.id not in listed.ids
    assert listed.rows[mine.id]["mobile"] == "138****5678" and "annual_revenue" not in listed.headers
    assert client.get("/admin/customer/new/").status_code == 302  # no create ticked
    assert client.get("/admin/customer/export/csv/").status_code == 200  # export ticked
    edit = client.get(f"/admin/customer/edit/?id={mine.id}").get_data(as_text=True)
    assert "name" not in ps.form_field_names(edit) and ps.fixed_values(edit)["客户名称"] == "大客户甲方"
    assert client.get("/admin/order/").status_code == 200 and client.get("/admin/feedback/").status_code == 403
    assert client.get("/admin/order/new/").status_code == 302

    # the same page edits it: untick export, mobile back to editable; the open session follows at once
    url = f"/admin/role/edit/?id={role.id}"
    response = ps.submit_form(admin, url, {"perm.customer.export": None, "rule.customer.mobile": "editable"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    actions, rules = _stored(role)
    assert actions["customer"] == {"view", "edit"} and ("customer", "mobile") not in rules
    assert client.get("/admin/customer/export/csv/").status_code in (302, 403)
    assert ps.ListPage(client.get("/admin/customer/").get_data(as_text=True)).rows[mine.id]["mobile"] == "13812345678"
    update = AuditLog.get((AuditLog.model == "role") & (AuditLog.action == "update"))
    assert json.loads(update.changes) == {"perm.customer": ["view edit export", "view edit"],
                                          "column.customer.mobile": ["masked", None]}


def test_a_crafted_grid_is_refused_in_chinese_and_changes_nothing(login):
    admin = login("admin")
    role = Role.get(Role.name == "service")
    url = f"/admin/role/edit/?id={role.id}"
    before, version, audits = _stored(role), access.current_version(), AuditLog.select().count()
    crafted = {"perm.nosuch.view": "y", "perm.customer.launch": "y", "rule.customer.nosuch": "hidden",
               "rule.bogus.name": "hidden", "rule.customer.phone": "secret", "rule.customer.email": "hidden",
               "reveal.customer.email": "y", "row_scope": "world", "perm.customer.export": "y"}
    response = ps.submit_form(admin, url, crafted)
    assert response.status_code == 400
    problems = " ".join(ps.flashed_errors(response.get_data(as_text=True)))
    for message in ("未知对象：“nosuch”", "未知操作：“launch”", "未知字段：“customer.nosuch”", "未知对象：“bogus”",
                    "customer.phone 的权限无效：“secret”", "查看明文只适用于“脱敏”的字段", "数据范围无效：“world”",
                    "没有做任何修改"):
        assert message in problems, message
    assert _stored(role) == before and access.current_version() == version and AuditLog.select().count() == audits

    taken = ps.submit_form(admin, url, {"name": "sales"})  # another role's key
    assert taken.status_code == 400 and "角色标识“sales”已被其他角色使用" in taken.get_data(as_text=True)
    stale = admin.post(url, data={**ps.form_values(admin.get(url).get_data(as_text=True)), "csrf_token": "stale",
                                  "perm.customer.export": "y"})
    assert stale.status_code == 400 and "页面已过期" in stale.get_data(as_text=True)
    assert _stored(role) == before and access.current_version() == version


def test_the_admin_cannot_lock_themselves_out(login, users):
    admin = login("admin")
    own = Role.get(Role.name == "admin")
    for key in ("perm.role.edit", "perm.role.view"):
        response = ps.submit_form(admin, f"/admin/role/edit/?id={own.id}", {key: None})
        assert response.status_code == 400 and "这是您自己的角色" in response.get_data(as_text=True)
    assert access.grant_for(users["admin"]).can("role", "edit")
    # another role may lose the role screen: the guard is about the one who saves
    manager = Role.get(Role.name == "manager")
    assert ps.submit_form(admin, f"/admin/role/edit/?id={manager.id}", {"perm.customer.delete": None}).status_code == 302

    url = f"/admin/user/edit/?id={users['admin'].id}"
    response = ps.submit_form(admin, url, {"role": str(Role.get(Role.name == "sales").id)})
    assert "不能把自己改为没有“角色权限”查看和编辑权限的角色" in " ".join(ps.flashed_errors(response.get_data(as_text=True)))
    response = ps.submit_form(admin, url, {"active": None})
    assert "不能停用您自己的账号" in " ".join(ps.flashed_errors(response.get_data(as_text=True)))
    assert User.get_by_id(users["admin"].id).role_id == own.id and User.get_by_id(users["admin"].id).active


def test_only_a_role_edit_grant_opens_the_grid(login):
    manager = login("manager")
    assert manager.get("/admin/role/new/").status_code == 403
    assert manager.get(f"/admin/role/edit/?id={Role.get(Role.name == 'sales').id}").status_code == 403
    assert login("admin").get("/admin/role/edit/?id=99999").status_code == 404


def test_a_new_role_can_start_from_a_copy_of_another(login):
    admin = login("admin")
    sales = Role.get(Role.name == "sales")
    original = _stored(sales)
    page = admin.get("/admin/role/").get_data(as_text=True)
    form = ps.form_values(admin.get(f"/admin/role/new/?copy={sales.id}").get_data(as_text=True))
    assert form["name"] == "" and form["label"] == "" and form["perm.customer.edit"] == "y"
    assert form["rule.customer.owner"] == "readonly" and "perm.customer.delete" not in form
    form.update({"name": "key_account", "label": "大客户销售", "perm.customer.delete": "y"})
    response = admin.post(f"/admin/role/new/?copy={sales.id}", data=form)
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    copied = _stored(Role.get(Role.name == "key_account"))
    assert copied[1] == original[1] and copied[0] == {**original[0], "customer": original[0]["customer"] | {"delete"}}
    assert _stored(sales) == original and "创建" in page  # the copied role is left as it was
    assert ps.form_values(admin.get("/admin/role/new/?copy=abc").get_data(as_text=True))["name"] == ""
