"""The API's orders, follow-ups, tags and value row (issue 13 part 2): bulk upsert over the API framework, lists
by customer, the policy per role, and the OpenAPI description of each answer."""
import datetime
import json
from decimal import Decimal

import pytest

from models import AuditLog, CustomerTag, CustomerValue, ImportBatch, Order, Tag, tokens

NOW = datetime.datetime(2026, 12, 7, 9, 0)


@pytest.fixture
def api(app, users, make_customer):
    """{role: a client whose calls carry that role's demo user's write token}, and the customers."""
    made = {}
    for role, username in (("admin", "admin"), ("sales", "sales1"), ("service", "service"), ("sales2", "sales2")):
        _, clear = tokens.issue(users[username], f"ERP {username}", days=30, scope="write", now=datetime.datetime.now())
        made[role] = {"Authorization": f"Bearer {clear}"}
    client = app.test_client()

    def call(role, method, path, body=None):
        response = client.open(f"/api/v1{path}", method=method, headers=made[role], json=body)
        return response.status_code, response.get_json()

    return {"call": call, "mine": make_customer(owner="sales1"), "theirs": make_customer(owner="sales2"),
            "users": users, "client": client, "headers": made}


def _order(code, number, **fields):
    return {"order_no": f"ERP-{number}", "customer_code": code, "ordered_at": "2026-12-01 10:00", "amount": "¥1,280.5",
            "quantity": 1, "product": "标准版", **fields}


def test_bulk_orders_all_or_nothing_partial_and_resend(api):
    call, mine, theirs = api["call"], api["mine"].code, api["theirs"].code
    items = [_order(mine, 1), _order(mine, 2, amount="abc"), _order(theirs, 3), _order(mine, 4)]
    status, body = call("sales", "POST", "/orders/bulk", {"items": items})
    assert status == 422 and body["error"]["code"] == "validation_failed"
    assert body["error"]["message"].startswith("2 项有错误，未写入任何数据")
    assert body["error"]["errors"] == [
        {"index": 1, "field": "amount", "value": "abc", "message": "金额无法识别：abc（可写作 1234.50、1,234.50 或 ¥1,234）"},
        {"index": 2, "field": "customer_code", "value": theirs, "message": f"客户编号 {theirs} 不存在或不在您的数据范围内"}]
    assert Order.select().count() == 0

    status, body = call("sales", "POST", "/orders/bulk", {"items": items, "partial": True})
    assert status == 200 and (body["created"], body["rejected"], body["written"]) == (2, 2, True)
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert Order.get(Order.order_no == "ERP-1").amount == Decimal("1280.50")
    entries = AuditLog.select().where((AuditLog.action == "create") & (AuditLog.model == "order"))
    assert entries.count() == 2 and {json.loads(e.changes)["api_token"] for e in entries} == {"ERP sales1"}

    audited = AuditLog.select().count()
    status, body = call("sales", "POST", "/orders/bulk", {"items": [items[0], items[3]]})
    assert status == 200 and (body["created"], body["updated"], body["unchanged"], body["batch_id"]) == (0, 0, 2, None)
    assert AuditLog.select().count() == audited

    status, body = call("sales", "GET", f"/customers/{mine}/orders?limit=1")
    assert status == 200 and body["items"][0] == {
        "order_no": "ERP-1", "customer_code": mine, "ordered_at": "2026-12-01T10:00:00", "amount": "1280.50",
        "quantity": 1, "product": "标准版", "channel": None}
    status, body = call("sales", "GET", f"/customers/{mine}/orders?cursor={body['next_cursor']}")
    assert [o["order_no"] for o in body["items"]] == ["ERP-4"] and body["next_cursor"] is None
    assert call("sales", "GET", f"/customers/{theirs}/orders")[0] == 404  # out of scope reads as missing


def test_bulk_calls_refused_whole(api):
    call, mine = api["call"], api["mine"].code
    status, body = call("service", "POST", "/orders/bulk", {"items": [_order(mine, 1)]})
    assert status == 403 and "不能同步订单" in body["error"]["message"]
    status, body = call("sales", "POST", "/orders/bulk", {"items": [{}] * 10_001})
    assert status == 413 and body["error"]["code"] == "too_many_items"
    status, body = call("sales", "POST", "/orders/bulk", {"items": "x", "colour": 1})
    assert status == 422 and {e["field"] for e in body["error"]["errors"]} == {"items", "colour"}
    # Python's JSON parser takes NaN, which JSON cannot carry back: the partial answer echoes it as text
    raw = ('{"partial": true, "items": [{"order_no": "N1", "customer_code": "%s", "ordered_at": "2026-01-01", '
           '"amount": NaN}]}' % mine)
    response = api["client"].post("/api/v1/orders/bulk", data=raw, content_type="application/json",
                                  headers=api["headers"]["sales"])
    assert response.status_code == 200 and json.loads(response.get_data(as_text=True))["errors"] == [
        {"index": 0, "field": "amount", "value": "nan", "message": "金额无法识别：nan"}]


def test_follow_ups_in_bulk_and_by_customer(api):
    call, mine = api["call"], api["mine"].code
    items = [{"record_no": "crm-9", "customer_code": mine, "at": "2026-12-02 09:30", "method": "上门拜访",
              "content": "演示产品", "result": "报价"}]
    status, body = call("sales", "POST", "/followups/bulk", {"items": items})
    assert status == 200 and body["created"] == 1
    items[0]["content"] = "演示产品，客户要求报价单"
    status, body = call("sales", "POST", "/followups/bulk", {"items": items})
    assert (body["created"], body["updated"]) == (0, 1)
    status, body = call("sales", "GET", f"/customers/{mine}/followups")
    assert status == 200 and body["items"] == [{
        "record_no": "CRM-9", "customer_code": mine, "at": "2026-12-02T09:30:00", "method": "拜访",
        "content": "演示产品,客户要求报价单", "result": "已报价", "next_date": None, "user": "sales1"}]  # half-width, as imports


def test_service_never_sees_money(api, make_order):
    call, customer = api["call"], api["mine"]
    make_order(customer, amount="88.00", order_no="SO-1")
    CustomerValue.create(customer=customer, annual_spend=Decimal("88.00"), orders_12m=1, ltv=Decimal("123.45"),
                         tier="普通客户", last_order_at=datetime.datetime(2026, 11, 2, 8, 0),
                         as_of=datetime.date(2026, 12, 7), refreshed_at=NOW)
    status, body = call("service", "GET", f"/customers/{customer.code}/orders")
    assert status == 200 and "amount" not in body["items"][0] and body["items"][0]["order_no"] == "SO-1"
    status, body = call("service", "GET", f"/customers/{customer.code}/value")
    assert status == 200 and "annual_spend" not in body and "ltv" not in body and body["tier"] == "普通客户"
    status, body = call("sales", "GET", f"/customers/{customer.code}/value")
    assert (body["annual_spend"], body["ltv"], body["orders_12m"], body["last_order_at"]) == (
        "88.00", "123.45", 1, "2026-11-02T08:00:00")
    assert call("sales", "GET", f"/customers/{api['theirs'].code}/value")[0] == 404
    assert call("admin", "GET", f"/customers/{api['theirs'].code}/value")[1]["error"]["code"] == "not_computed"


def test_manual_tags_added_and_removed_rule_tags_never(api):
    call, customer = api["call"], api["mine"]
    Tag.create(name="价格敏感", category="偏好", source="manual")
    rule_tag = Tag.create(name="高价值", category="价值", source="rule")
    CustomerTag.create(customer=customer, tag=rule_tag, source="rule")
    status, body = call("sales", "POST", f"/customers/{customer.code}/tags", {"tag": "价格敏感"})
    assert status == 200 and sorted((t["name"], t["source"]) for t in body["items"]) == [("价格敏感", "manual"),
                                                                                       ("高价值", "rule")]
    summary = AuditLog.get(AuditLog.action == "batch-tag")
    assert json.loads(summary.changes)["criteria"] == {"api_token": "ERP sales1"}
    status, body = call("sales", "DELETE", f"/customers/{customer.code}/tags/高价值")
    assert status == 422 and "是规则标签" in body["error"]["errors"][0]["message"]
    status, body = call("sales", "DELETE", f"/customers/{customer.code}/tags/价格敏感")
    assert status == 200 and [t["name"] for t in body["items"]] == ["高价值"]
    assert call("service", "POST", f"/customers/{customer.code}/tags", {"tag": "价格敏感"})[0] == 403
    assert call("service", "GET", f"/customers/{customer.code}/tags")[0] == 200
    assert call("sales", "GET", f"/customers/{api['theirs'].code}/tags")[0] == 404


def test_the_description_declares_every_answer(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    bulk = paths["/api/v1/orders/bulk"]["post"]
    assert {"200", "401", "403", "409", "413", "422", "429"} <= set(bulk["responses"])
    assert bulk["summary"] == "批量同步订单（按订单号新建或更新）"
    for path in ("/api/v1/customers/{code}/orders", "/api/v1/customers/{code}/followups",
                 "/api/v1/customers/{code}/tags", "/api/v1/customers/{code}/value", "/api/v1/followups/bulk"):
        assert path in paths, path
    assert "delete" in paths["/api/v1/customers/{code}/tags/{name}"]


# --- bulk calls racing other writers ------------------------------------------------------------------------------

def _wait_for_a_waiter(seconds=30):
    """Until another transaction waits on one this connection's transaction holds (PostgreSQL); SQLite: a moment,
    the other writer is then queued for the write lock."""
    import time

    import models

    if models.is_sqlite():
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    while not models.db.execute_sql("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                                    ).fetchone()[0]:
        assert time.monotonic() < deadline, "nobody waited"
        time.sleep(0.02)


def _post_in_thread(api, role, body, answers):
    import threading

    import models

    def post():
        try:
            response = api["client"].post("/api/v1/orders/bulk", json=body, headers=api["headers"][role])
            answers.append((response.status_code, response.get_json()))
        finally:
            models.db.close()

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_two_bulk_calls_at_once_through_the_app_write_each_order_once(api):
    """Two ERPs pushing the same new orders at the same moment, each a real request to the app on a thread of its
    own: the calls take their turn (SQLite's write lock; PostgreSQL: an advisory lock per kind), so the second
    finds the first's orders and changes nothing; never a 500 and never an order twice."""
    import threading

    import models

    items = [_order(api["mine"].code, n) for n in range(200)]
    barrier, answers = threading.Barrier(2), []

    def erp(role):
        try:
            barrier.wait()
            response = api["client"].post("/api/v1/orders/bulk", json={"items": items}, headers=api["headers"][role])
            answers.append((response.status_code, response.get_json()))
        finally:
            models.db.close()

    threads = [threading.Thread(target=erp, args=(role,)) for role in ("sales", "admin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((status, body["created"], body["unchanged"]) for status, body in answers) == [
        (200, 0, 200), (200, 200, 0)]
    assert Order.select().count() == 200


def test_a_bulk_call_racing_an_import_of_the_same_new_orders_retries_once(api, tmp_path, import_dirs):
    """An import (the importer, which does not take the sync's turn) writes some of the same new order numbers and
    commits while the API call writes.  PostgreSQL: the call's insert waits on the import's keys, then the driver
    refuses them; the call checks and writes again once, finding the imported orders, and updates them with what
    it sent.  SQLite: the call waits for the import's write lock, then does the same.  200 either way, nothing
    twice, never a 500."""
    import threading

    import models
    from intake import engine

    code = api["mine"].code
    csv = tmp_path / "orders.csv"
    csv.write_text("客户编号,订单号,下单时间,金额\n" + "".join(f"{code},ERP-{n},2026-11-01,5.00\n" for n in range(0, 40, 2)),
                   encoding="utf-8")
    imported, failures, answers = threading.Event(), [], []

    def importer():
        try:
            with models.db.atomic():  # the import's transaction, held until the call waits on it
                report = engine.import_file(str(csv), "orders", user=api["users"]["sales1"])
                assert report.written and report.created == 20, report.errors
                imported.set()
                _wait_for_a_waiter()
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
            imported.set()
        finally:
            models.db.close()

    other = threading.Thread(target=importer)
    other.start()
    assert imported.wait(60) and not failures, failures
    call = _post_in_thread(api, "sales", {"items": [_order(code, n) for n in range(40)]}, answers)
    call.join(60)
    other.join(60)
    assert not failures, failures
    [(status, body)] = answers
    assert status == 200, body
    assert (body["created"], body["updated"], body["unchanged"]) == (20, 20, 0)
    assert Order.select().count() == 40
    assert {o.amount for o in Order.select()} == {Decimal("1280.50")}  # the call's values, as re-sending it gives


def test_a_bulk_call_that_clashes_again_is_409_naming_the_orders_with_nothing_written(api):
    """Two other writers each hold one of the call's new order numbers.  PostgreSQL: the call clashes with the first,
    tries once more, clashes with the second, and is refused with 409 naming that order number (its index, field
    and value in `errors`); nothing of the call is written.  SQLite, where writers take turns on one lock: the call
    waits for them, then updates both orders."""
    import threading

    import models

    code, customer = api["mine"].code, api["mine"]
    holding, first_done, failures, answers = [threading.Event(), threading.Event()], threading.Event(), [], []

    def writer(position):
        try:
            if position == 1 and models.is_sqlite():
                return  # one lock: the first writer writes both
            with models.db.atomic():
                numbers = [1, 2] if models.is_sqlite() else [position + 1]
                for number in numbers:
                    Order.create(customer=customer, order_no=f"ERP-{number}", ordered_at=datetime.datetime(2026, 11, 1),
                                 amount="5.00")
                holding[position].set()
                if position == 1:
                    assert first_done.wait(30)
                _wait_for_a_waiter()
            if position == 0:
                first_done.set()
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            holding[position].set()
            models.db.close()

    writers = [threading.Thread(target=writer, args=(position,)) for position in (0, 1)]
    for thread in writers:
        thread.start()
    assert all(event.wait(30) for event in holding) and not failures, failures
    call = _post_in_thread(api, "sales", {"items": [_order(code, n) for n in range(4)]}, answers)
    call.join(60)
    for thread in writers:
        thread.join(60)
    assert not failures, failures
    [(status, body)] = answers
    if models.is_sqlite():
        assert status == 200 and (body["created"], body["updated"]) == (2, 2), body
        return
    assert status == 409, body
    error = body["error"]
    assert error["code"] == "conflict" and "ERP-2" in error["message"] and "已重试一次仍冲突" in error["message"]
    assert error["errors"] == [{"index": 2, "field": "order_no", "value": "ERP-2", "message": "订单号 ERP-2 已由其他写入同时新建"}]
    assert sorted((o.order_no, o.amount) for o in Order.select()) == [("ERP-1", Decimal("5.00")),
                                                                      ("ERP-2", Decimal("5.00"))]
    assert not ImportBatch.select().exists()
