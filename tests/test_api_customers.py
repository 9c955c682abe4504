"""Customers through the API (api/customers.py): scope per role, column rules, the import's cleaning with
per-field errors, keyset pages, filters, and the audit of every write with the token's name.

One app and data set for the module; tests that write make customers of their own and leave the seeded
ones as they were.  Teams (demo users): manager leads sales1 and sales2, manager2 leads sales3.
"""
import datetime
import json

import pytest

import access
import models
from models import AuditLog, ColumnRule, Customer, CustomerTag, Role, StatusChange, Tag, User, tokens
from tests.conftest import build_app

NOW = datetime.datetime(2026, 3, 2, 10, 0)
OLD = datetime.datetime(2025, 1, 10, 9, 0)
RECENT = datetime.datetime(2026, 2, 20, 9, 0)
PER_OWNER = 5


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    application = build_app(tmp_path_factory.mktemp("api_customers"))
    application.config["CLOCK"] = lambda: NOW
    application.config["API_RATE_PER_MINUTE"] = 100_000
    users = {u.username: u for u in User.select()}
    # A hidden column for 销售代表, so "never a hidden column" is checked against one that exists.
    sales = Role.get(Role.name == "sales")
    ColumnRule.create(role=sales, model="customer", column="address", access="hidden")
    access.bump_version()
    vip = Tag.create(name="重点", category="价值", source="manual")
    n = 0
    for owner in ("sales1", "sales2", "sales3"):
        for i in range(PER_OWNER):
            n += 1
            customer = Customer.create(
                name=f"接口客户{n:02d}", customer_type="企业", mobile=f"1370000{n:04d}", region="华北" if i % 2 else "华东",
                industry="互联网" if i < 3 else "制造业", first_contact=datetime.date(2024, 3, 1), owner=users[owner],
                status="意向客户" if i == 0 else "潜在客户", address=f"北京市海淀区{n}号", annual_revenue="1250000.50",
                employees=40 + n, id_number="110101199001011234", bank_account="6222020200112233445")
            if i == 1:
                CustomerTag.create(customer=customer, tag=vip)
            Customer.update(updated_at=RECENT if i == 4 else OLD).where(Customer.id == customer.id).execute()
    yield application
    models.db.close()
    models.db.close_all()


@pytest.fixture(scope="module")
def tokens_of(app):
    made = {}
    for username in ("admin", "manager", "sales1", "service"):
        _, clear = tokens.issue(User.get(User.username == username), f"{username}的集成", 30, "write", NOW)
        made[username] = {"Authorization": f"Bearer {clear}"}
    return made


@pytest.fixture
def api(app, tokens_of):
    client = app.test_client()

    def call(method, url, who="admin", **kwargs):
        return client.open(url, method=method, headers=tokens_of[who], **kwargs)

    return call


def listed(api, who, query=""):
    response = api("GET", f"/api/v1/customers?limit=200{query}", who)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def owned_by(usernames):
    ids = [u.id for u in User.select().where(User.username.in_(usernames))]
    return {c.code for c in Customer.select().where(Customer.owner.in_(ids) & Customer.name.startswith("接口客户"))}


def field_errors(response):
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    return {e["field"]: e["message"] for e in error["errors"]}


def test_a_sales_rep_sees_only_their_customers_and_never_a_hidden_column(api):
    items = listed(api, "sales1", "&region=")
    assert {c["code"] for c in items if c["name"].startswith("接口客户")} == owned_by(["sales1"])
    assert all("address" not in c for c in items)
    assert all(c["id_number"] == "110***********1234" for c in items if c["name"].startswith("接口客户"))
    other = Customer.select().where(Customer.owner == User.get(User.username == "sales2").id).first()
    assert api("GET", f"/api/v1/customers/{other.code}", "sales1").status_code == 404
    assert api("PATCH", f"/api/v1/customers/{other.code}", "sales1", json={"notes": "x"}).status_code == 404
    own = items[0]["code"]
    shown = api("GET", f"/api/v1/customers/{own}", "sales1").get_json()
    assert "address" not in shown and shown["owner"] == "sales1"


def test_a_manager_sees_the_team_and_an_admin_everyone(api):
    assert {c["code"] for c in listed(api, "manager")} == owned_by(["sales1", "sales2"])
    assert {c["code"] for c in listed(api, "admin") if c["name"].startswith("接口客户")} == owned_by(
        ["sales1", "sales2", "sales3"])


def test_the_service_role_never_sees_money_and_sees_mobiles_masked(api):
    items = [c for c in listed(api, "service") if c["name"].startswith("接口客户")]
    assert len(items) == 3 * PER_OWNER
    assert all("annual_revenue" not in c for c in items)
    assert all(c["mobile"].startswith("137") and "****" in c["mobile"] for c in items)
    one = api("GET", f"/api/v1/customers/{items[0]['code']}", "service").get_json()
    assert "annual_revenue" not in one and "****" in one["mobile"]
    admin_view = api("GET", f"/api/v1/customers/{items[0]['code']}").get_json()
    assert admin_view["annual_revenue"] == "1250000.50" and admin_view["id_number"] == "110101199001011234"


def test_the_service_role_may_not_create(api):
    response = api("POST", "/api/v1/customers", "service", json={"name": "客服新建", "mobile": "13900000000"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_cursor_pages_are_stable_while_customers_are_added(api):
    expected = sorted(owned_by(["sales1", "sales2"]), key=lambda code: Customer.get(Customer.code == code).id)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/customers?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api("GET", url, "manager").get_json()
        seen += [c["code"] for c in body["items"]]
        pages += 1
        if pages == 2:  # a new customer in the middle of paging comes last, never shifting a page
            created = api("POST", "/api/v1/customers", "sales1", json={"name": "翻页时新建", "mobile": "13911112222"})
            assert created.status_code == 201
            expected.append(created.get_json()["code"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected and len(set(seen)) == len(seen)
    assert pages == 4  # 10 + 1 customers, 3 a page


def test_filters(api):
    def codes(query, who="admin"):
        return {c["code"] for c in listed(api, who, query) if c["name"].startswith("接口客户")}

    everyone = owned_by(["sales1", "sales2", "sales3"])
    by_code = {code: Customer.get(Customer.code == code) for code in everyone}
    assert codes("&status=意向客户") == {c for c, r in by_code.items() if r.status == "意向客户"}
    assert codes("&owner=sales2") == owned_by(["sales2"])
    assert codes("&region=华东&industry=制造业") == {c for c, r in by_code.items()
                                                    if r.region == "华东" and r.industry == "制造业"}
    assert codes("&tag=重点") == {c for c, r in by_code.items() if r.tags.count()}
    assert codes("&updated_since=2026-02-01") == {c for c, r in by_code.items() if r.updated_at == RECENT}
    assert codes("&tag=重点", who="sales1") == {c for c in codes("&tag=重点") if c in owned_by(["sales1"])}
    errors = field_errors(api("GET", "/api/v1/customers?status=大客户&updated_since=上周&owner=nobody&tag=没有"))
    assert set(errors) == {"status", "updated_since", "owner", "tag"}
    assert api("GET", "/api/v1/customers?cursor=not-a-cursor").status_code == 400
    assert api("GET", "/api/v1/customers?limit=500").status_code == 400


def test_create_cleans_values_as_the_import_does_and_audits_with_the_token_name(api):
    response = api("POST", "/api/v1/customers", "sales1", json={
        "name": "  上海示例贸易 ", "mobile": "+86 138-0013-8000", "industry": "IT", "region": "华北",
        "annual_revenue": "¥1,234.50", "employees": "120", "first_contact": "2024年1月15日", "customer_type": "公司"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "上海示例贸易" and body["mobile"] == "13800138000" and body["industry"] == "互联网"
    assert body["annual_revenue"] == "1234.50" and body["employees"] == 120 and body["first_contact"] == "2024-01-15"
    assert body["customer_type"] == "企业" and body["owner"] == "sales1" and body["status"] == "潜在客户"
    assert body["code"].startswith("HB-IT-2024-") and "address" not in body
    customer = Customer.get(Customer.code == body["code"])
    entry = AuditLog.get((AuditLog.model == "customer") & (AuditLog.record_id == str(customer.id)))
    assert entry.action == "create" and entry.username == "sales1"
    assert json.loads(entry.changes)["api_token"] == "sales1的集成"
    assert StatusChange.select().where(StatusChange.customer == customer.id).count() == 1


def test_every_bad_field_is_reported_in_chinese_and_nothing_is_written(api):
    before = Customer.select().count()
    errors = field_errors(api("POST", "/api/v1/customers", "sales1", json={
        "name": "x" * 121, "mobile": "12345", "email": "not-an-email", "employees": -3, "annual_revenue": "很多",
        "industry": "不存在的行业", "first_contact": "昨天", "owner": "sales2", "address": "隐藏的地址", "colour": "红"}))
    assert set(errors) == {"name", "mobile", "email", "employees", "annual_revenue", "industry", "first_contact",
                           "owner", "address", "colour"}
    assert "11 位" in errors["mobile"] and "只读" in errors["owner"] and "不能写入" in errors["address"]
    assert errors["employees"] == "不能为负数"
    assert Customer.select().count() == before
    missing = field_errors(api("POST", "/api/v1/customers", json={"notes": "没有名称和电话"}))
    assert set(missing) == {"name", "mobile"} and missing["mobile"] == "手机号码和电话至少填写一项"
    typed = field_errors(api("POST", "/api/v1/customers", json={"name": ["列表"], "mobile": 13800138000}))
    assert set(typed) == {"name", "mobile"} and "类型不正确" in typed["name"]
    bad = api("POST", "/api/v1/customers", data="not json", content_type="text/plain")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "not_json"


def test_update_is_partial_checked_and_audited(api):
    created = api("POST", "/api/v1/customers", "sales1", json={"name": "待修改客户", "mobile": "13911113333"})
    code = created.get_json()["code"]
    response = api("PATCH", f"/api/v1/customers/{code}", "sales1", json={"notes": "电话回访", "status": "意向客户"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["notes"] == "电话回访" and response.get_json()["mobile"] == "13911113333"
    customer = Customer.get(Customer.code == code)
    change = StatusChange.select().where(StatusChange.customer == customer.id).order_by(StatusChange.id.desc()).first()
    assert change.to_status == "意向客户" and "sales1的集成" in change.reason
    entry = (AuditLog.select().where((AuditLog.model == "customer") & (AuditLog.record_id == str(customer.id))
                                     & (AuditLog.action == "update")).get())
    assert json.loads(entry.changes) == {"notes": [None, "电话回访"], "status": ["潜在客户", "意向客户"],
                                         "api_token": "sales1的集成"}
    errors = field_errors(api("PATCH", f"/api/v1/customers/{code}", "sales1",
                              json={"owner": "sales1", "mobile": None, "code": "bad"}))
    assert set(errors) == {"owner", "mobile", "code"}
    assert Customer.get(Customer.code == code).mobile == "13911113333"
    # a manager may move the customer inside the team, not outside it
    assert field_errors(api("PATCH", f"/api/v1/customers/{code}", "manager", json={"owner": "sales3"}))["owner"]
    moved = api("PATCH", f"/api/v1/customers/{code}", "manager", json={"owner": "sales2"})
    assert moved.status_code == 200 and moved.get_json()["owner"] == "sales2"
    assert api("GET", f"/api/v1/customers/{code}", "sales1").status_code == 404


def test_a_sensitive_value_is_never_echoed_or_audited_in_clear(api):
    created = api("POST", "/api/v1/customers", json={"name": "敏感", "mobile": "13911114444", "owner": "sales1"})
    code = created.get_json()["code"]
    response = api("PATCH", f"/api/v1/customers/{code}", json={"id_number": "110101199001011234"})
    assert response.status_code == 200
    customer = Customer.get(Customer.code == code)
    entry = AuditLog.select().where((AuditLog.record_id == str(customer.id)) & (AuditLog.action == "update")).get()
    assert "110101199001011234" not in entry.changes and json.loads(entry.changes)["id_number"] == ["***", "***"]
    masked = api("GET", f"/api/v1/customers/{code}", "manager")
    assert masked.get_json()["id_number"] == "110***********1234"


def test_numbers_json_cannot_hold_are_refused_and_not_echoed_as_such(api):
    response = api("POST", "/api/v1/customers", data='{"name": "非数", "mobile": "13911115555", "annual_revenue": NaN}',
                   content_type="application/json")
    assert response.status_code == 422
    assert "NaN" not in response.get_data(as_text=True).replace('"nan"', "")
    assert field_errors(response)["annual_revenue"].startswith("金额无法识别")
