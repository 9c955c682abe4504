"""Tag rules checked right after a change: an order, a follow-up, a status change and a customer edit in the
admin, and an import.  The check runs for today (the day of the change), so the records are dated from now."""
import datetime
import json

import intake
from models import CustomerTag, Order, Tag, TagRule, TagRuleEpisode

RECENT = {"all": [{"metric": "order_count", "days": 30, "op": ">=", "value": 1}]}
QUIET = {"all": [{"metric": "days_since_followup", "op": ">=", "value": 60}]}
SIGNED = {"all": [{"metric": "status", "op": "=", "value": "成交客户"}]}


def _rule(name, condition):
    tag = Tag.create(name=name, category="行为", source="rule")
    TagRule.create(name=name, tag=tag, condition=json.dumps(condition), enabled=True)
    return tag


def carries(customer, tag):
    return CustomerTag.select().where((CustomerTag.customer == customer.id) & (CustomerTag.tag == tag.id)).exists()


def test_order_follow_up_and_status_change_in_the_admin(app, login, make_customer):
    recent, quiet, signed = _rule("近期下单", RECENT), _rule("久未跟进", QUIET), _rule("已成交", SIGNED)
    customer = make_customer(owner="sales1")
    client = login("sales")
    now = datetime.datetime.now().replace(microsecond=0)
    response = client.submit("/admin/order/new/", {"customer": str(customer.id), "order_no": "SO-HOOK-1",
                                                   "ordered_at": now.strftime("%Y-%m-%d %H:%M:%S"),
                                                   "amount": "100", "quantity": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert carries(customer, recent) and not carries(customer, signed)
    assert carries(customer, quiet)  # never followed up: saving the order checked every rule for the customer
    response = client.submit("/admin/followup/new/", {"customer": str(customer.id), "method": "电话",
                                                      "content": "回访", "at": now.strftime("%Y-%m-%d %H:%M:%S")})
    assert response.status_code == 302
    assert not carries(customer, quiet)
    response = client.submit("/admin/statuschange/new/", {"customer": str(customer.id), "to_status": "成交客户",
                                                          "reason": "签约"})
    assert response.status_code == 302
    assert carries(customer, signed)
    # deleting the order takes the tag back
    order = Order.get(Order.order_no == "SO-HOOK-1")
    manager = login("manager")
    response = manager.submit("/admin/order/delete/", {"id": str(order.id)}, form_url="/admin/order/")
    assert response.status_code == 302 and not Order.select().exists()
    assert not carries(customer, recent)
    episodes = {(e.rule.name, e.episode, e.applied_by, e.removed_by) for e in TagRuleEpisode.select()}
    assert ("近期下单", 1, "change", "change") in episodes


def test_import_checks_the_imported_customers(app, tmp_path, make_customer):
    recent = _rule("近期下单", RECENT)
    customer = make_customer(code="HB-IT-2024-001")
    other = make_customer(code="HB-IT-2024-002")
    Order.create(customer=other, order_no="SO-OLD", ordered_at=datetime.datetime.now(), amount=1)  # not imported
    day = datetime.date.today().isoformat()
    path = tmp_path / "订单.csv"
    path.write_text(f"客户编号,订单号,下单时间,金额\nHB-IT-2024-001,SO-IMP-1,{day} 09:00,10\n", encoding="utf-8")
    with app.app_context():
        report = intake.import_file(str(path), "orders")
    assert report.created == 1
    assert carries(customer, recent) and not carries(other, recent)  # only the imported customers were checked


def test_an_import_undo_checks_the_customers_it_changed(app, tmp_path, make_customer):
    """The imported order earned 近期下单; its undo deletes the order, and the customer loses the rule tag at
    once (its episode closed), not at the next nightly sweep."""
    recent = _rule("近期下单", RECENT)
    customer = make_customer(code="HB-IT-2024-011")
    day = datetime.date.today().isoformat()
    path = tmp_path / "订单.csv"
    path.write_text(f"客户编号,订单号,下单时间,金额\nHB-IT-2024-011,SO-IMP-11,{day} 09:00,10\n", encoding="utf-8")
    with app.app_context():
        report = intake.import_file(str(path), "orders")
        assert carries(customer, recent)
        intake.undo(report.batch_id)
    assert not carries(customer, recent)
    episode = TagRuleEpisode.get(TagRuleEpisode.customer == customer.id)
    assert episode.removed_at is not None and episode.removed_by == "change"


def test_a_very_large_undo_hands_the_check_to_the_sweeps_on_the_queue(app, tmp_path, make_customer, monkeypatch,
                                                                     queue_inline):
    from intake import engine
    from models import JobRun

    monkeypatch.setattr(engine, "RECHECK_AT_ONCE", 0)  # every undo counts as very large
    recent = _rule("近期下单", RECENT)
    customer = make_customer(code="HB-IT-2024-012")
    day = datetime.date.today().isoformat()
    path = tmp_path / "订单.csv"
    path.write_text(f"客户编号,订单号,下单时间,金额\nHB-IT-2024-012,SO-IMP-12,{day} 09:00,10\n", encoding="utf-8")
    with app.app_context():
        report = intake.import_file(str(path), "orders")
        intake.undo(report.batch_id)
    ran = {run.job: run.status for run in JobRun.select()}
    assert (ran["pipeline"], ran["tag-rules"]) == ("success", "success")
    assert not carries(customer, recent)
