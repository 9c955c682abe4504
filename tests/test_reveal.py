"""查看明文: a masked value shown for one record on demand, for a role whose column rule allows it.

Every reveal is audited (who, record, column; never the value); masked stays the default on every other
path for that role (lists, details before the click, forms, exports, search results, reports); unknown
columns, records out of scope and columns without the permission are refused with a Chinese message and
audited as refusals, never as reveals."""
import io
import json

import openpyxl

import pytest

import access
import tests.policy_support as ps
from models import AuditLog, ColumnRule, Role

ID_NUMBER, BANK = "110101199001011234", "6222021234567890123"


def allow_reveal(role_name, column, model="customer"):
    role = Role.get(Role.name == role_name)
    rule = ColumnRule.get((ColumnRule.role == role) & (ColumnRule.model == model) & (ColumnRule.column == column))
    rule.reveal = True
    rule.save()
    access.bump_version()


def reveal(client, customer_id, column, token=None):
    token = ps.any_csrf_token(client) if token is None else token
    return client.post("/admin/customer/reveal/", data={"csrf_token": token, "id": str(customer_id), "column": column})


def audit_rows(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


@pytest.fixture
def customer(make_customer):
    return make_customer(owner="sales1", name="明文客户", id_number=ID_NUMBER, bank_account=BANK)


def test_nobody_may_reveal_by_default(app, users):
    for user in users.values():
        grant = access.grant_for(user)
        assert not grant.reveals
        assert not grant.may_reveal("customer", "id_number")


def test_a_granted_role_reveals_one_value_and_the_reveal_is_audited(login, customer):
    allow_reveal("manager", "id_number")
    manager = login("manager")
    details = manager.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert 'data-reveal-column="id_number"' in details  # the button beside the masked value
    assert 'data-reveal-column="bank_account"' not in details  # no permission for that column: no button
    assert "110***********1234" in details and ID_NUMBER not in details and BANK not in details
    assert "reveal.js" in details and 'nonce="' in details  # the script runs under the CSP (web/security.py)

    response = reveal(manager, customer.id, "id_number")
    assert response.status_code == 200
    assert response.get_json() == {"value": ID_NUMBER, "column": "id_number"}
    assert response.headers["Cache-Control"] == "no-store"
    [entry] = audit_rows("reveal")
    assert (entry.username, entry.model, entry.record_id) == ("manager", "customer", str(customer.id))
    assert json.loads(entry.changes) == {"column": "id_number"} and entry.at is not None
    assert not any(ID_NUMBER in (row.changes or "") for row in AuditLog.select())  # never the value
    assert not audit_rows("reveal_refused")


def test_masked_stays_the_default_everywhere_else_for_a_role_that_may_reveal(login, customer, users):
    from reporting.runner import scope_for

    report_scope = {role: scope_for(users[username]) for role, username in (("manager", "manager"),
                                                                             ("service", "service"))}
    allow_reveal("manager", "id_number")
    allow_reveal("manager", "bank_account")
    allow_reveal("service", "mobile")
    for role in ("manager", "service"):
        client = login(role)
        pages = {
            "list": client.get("/admin/customer/?search=明文客户"),
            "search by ID number": client.get(f"/admin/customer/?search={ID_NUMBER}"),
            "details": client.get(f"/admin/customer/details/?id={customer.id}"),
            "edit": client.get(f"/admin/customer/edit/?id={customer.id}"),
            "csv export": client.get("/admin/customer/export/csv/"),
            "xlsx export": client.get("/admin/customer/export/xlsx/"),
        }
        for path, response in pages.items():
            assert response.status_code in (200, 302, 403), (role, path, response.status_code)
            data = response.data
            if path == "xlsx export" and response.status_code == 200:
                book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
                data = "\n".join(str(c) for row in book.active.iter_rows(values_only=True) for c in row).encode()
            text = data.decode("utf-8")
            if path == "search by ID number":  # the page repeats the term the user typed: read the rows
                rows = ps.ListPage(text).rows
                assert customer.id in rows, "the digest lookup finds the customer"
                text = json.dumps(rows, ensure_ascii=False, default=str)
            assert ID_NUMBER not in text and BANK not in text, (role, path)
            if role == "service":
                assert customer.mobile not in text, (role, path)
        # Reports (and the mail that carries them) read the run's column rules, which 查看明文 leaves masked.
        assert scope_for(users[ps_user(role)]) == report_scope[role]
    assert not audit_rows("reveal")


def ps_user(role):
    return {"manager": "manager", "service": "service"}[role]


@pytest.mark.parametrize("who, target, column, status, message", [
    ("manager", "own", "bank_account", 403, "没有查看此字段明文的权限"),  # masked, but no 查看明文
    ("manager", "own", "password_hash", 404, "没有这个字段"),
    ("manager", "own", "name", 403, "没有查看此字段明文的权限"),  # a clear column has nothing to reveal
    ("manager", "other team", "id_number", 404, "不在您的数据范围内"),
    ("manager", "missing", "id_number", 404, "不在您的数据范围内"),
    ("manager", "not a number", "id_number", 404, "不在您的数据范围内"),
    ("sales", "own", "id_number", 403, "没有查看此字段明文的权限"),  # the rule is the manager role's
])
def test_refusals_say_why_in_chinese_and_reveal_nothing(login, make_customer, customer, who, target, column,
                                                         status, message):
    allow_reveal("manager", "id_number")
    other = make_customer(owner="sales3", name="别组客户", id_number="110101198001011111")
    record = {"own": customer.id, "other team": other.id, "missing": 999999, "not a number": "1 OR 1=1"}[target]
    response = reveal(login(who), record, column)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert message in response.get_json()["error"]
    assert ID_NUMBER not in body and "110101198001011111" not in body and BANK not in body
    assert not audit_rows("reveal")
    [refusal] = audit_rows("reveal_refused")
    assert json.loads(refusal.changes) == {"column": column, "status": status}


def test_a_reveal_without_a_valid_csrf_token_changes_nothing(login, customer):
    allow_reveal("manager", "id_number")
    manager = login("manager")
    response = reveal(manager, customer.id, "id_number", token="forged")
    assert response.status_code == 400 and "刷新" in response.get_json()["error"]
    assert ID_NUMBER not in response.get_data(as_text=True)
    assert manager.get(f"/admin/customer/reveal/?id={customer.id}&column=id_number").status_code == 405
    assert not audit_rows("reveal") and not audit_rows("reveal_refused")


def test_the_role_screen_grants_reveal_and_refuses_it_on_a_column_that_is_not_masked(login, customer, users):
    admin = login("admin")
    role = Role.get(Role.name == "manager")
    url = f"/admin/role/edit/?id={role.id}"
    page = admin.get(url).get_data(as_text=True)
    assert "查看明文" in page
    response = ps.submit_form(admin, url, {"reveal.customer.id_number": "y"})
    assert response.status_code == 302, ps.flashed_errors(response.get_data(as_text=True))
    assert access.grant_for(users["manager"]).may_reveal("customer", "id_number")
    assert reveal(login("manager"), customer.id, "id_number").get_json()["value"] == ID_NUMBER

    version = access.current_version()
    response = ps.submit_form(admin, url, {"reveal.customer.bank_account": "y", "rule.customer.bank_account": "readonly"})
    assert response.status_code == 400
    assert "查看明文只适用于“脱敏”的字段" in response.get_data(as_text=True)
    assert access.current_version() == version  # nothing saved
    assert ColumnRule.get((ColumnRule.role == role) & (ColumnRule.column == "bank_account")).access == "masked"
