"""The status pipeline: transitions as data, applied by the sweep and after a change, recorded in the status
history and the audit log like a manual change, never twice.  Every date is fixed (as_of and now passed)."""
import datetime
import json

import pytest

import pipeline
from models import (AuditLog, Customer, CustomerTag, FollowUp, PipelineEvent, PipelineTransition, StatusChange, Tag,
                    TagRule)

DAY = datetime.date(2026, 6, 30)
NOW = datetime.datetime(2026, 6, 30, 23, 0)


def at(text):
    return datetime.datetime.fromisoformat(text)


@pytest.fixture
def seeded(app):
    pipeline.seed_transitions()
    return {t.name: t for t in PipelineTransition.select()}


@pytest.fixture
def person(make_customer):
    """person(status, created, changes=[(at, from, to)]) -> a customer with its creation record and history."""

    def _make(status="潜在客户", created="2026-01-05 09:00", changes=(), **fields):
        first = changes[0][1] if changes else status
        customer = make_customer(status=status, created_at=at(created), **fields)
        StatusChange.create(customer=customer, from_status=None, to_status=first, reason="新建客户", at=at(created))
        for when, frm, to in changes:
            StatusChange.create(customer=customer, from_status=frm, to_status=to, reason="手动", at=at(when))
        return customer

    return _make


def status(customer):
    return Customer.get_by_id(customer.id).status


def history(customer):
    return [(c.from_status, c.to_status, c.at, c.user_id) for c in
            StatusChange.select().where(StatusChange.customer == customer.id).order_by(StatusChange.at, StatusChange.id)]


def tagged(customer, name="待成交"):
    return (CustomerTag.select().join(Tag).where((CustomerTag.customer == customer.id) & (Tag.name == name))
            .exists())


def test_seeded_transitions_are_data(seeded):
    assert set(seeded) == {"首次下单成交", "180天未下单流失", "报价待成交", "流失客户回购"}
    churn = seeded["180天未下单流失"]
    assert (churn.trigger, churn.statuses(), churn.to_status, json.loads(churn.params)) == (
        "no_order", ["成交客户"], "流失客户", {"days": 180})
    assert seeded["报价待成交"].to_tag.name == "待成交" and seeded["报价待成交"].to_tag.source == "rule"
    assert not seeded["流失客户回购"].enabled
    assert pipeline.seed_transitions() == []  # idempotent


def test_sweep_moves_statuses_tags_and_records_the_reason(seeded, person, make_order, users):
    first = person()  # 潜在, orders in February
    make_order(first, ordered_at=at("2026-02-10 10:30"))
    make_order(first, ordered_at=at("2026-03-01 10:00"))
    churned = person("成交客户", "2025-01-01 09:00")
    make_order(churned, ordered_at=at("2025-12-01 15:00"))  # + 180 days = 2026-05-30 <= DAY
    recent = person("成交客户", "2025-01-01 09:00")
    make_order(recent, ordered_at=at("2026-01-02 15:00"))  # + 180 days = 2026-07-01 > DAY
    decided = person("意向客户", changes=[("2026-03-01 09:00", "潜在客户", "意向客户")])
    make_order(decided, ordered_at=at("2026-02-01 10:00"))  # before the rep's decision: not counted
    quoted = person("意向客户", changes=[("2026-03-01 09:00", "潜在客户", "意向客户")])
    FollowUp.create(customer=quoted, at=at("2026-04-01 11:00"), method="电话", content="发报价单", result="已报价")
    lost = person("流失客户", changes=[("2026-02-01 09:00", "成交客户", "流失客户")])
    make_order(lost, ordered_at=at("2026-03-01 10:00"))  # 流失客户回购 is disabled

    results = pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert {r.name: (r.fired, r.changed) for r in results} == {
        "首次下单成交": (1, 1), "180天未下单流失": (1, 1), "报价待成交": (1, 1)}
    assert status(first) == "成交客户" and status(churned) == "流失客户" and status(recent) == "成交客户"
    assert status(decided) == "意向客户" and status(lost) == "流失客户" and tagged(quoted)
    # the status history: business times, from the status the customer was in, no user (the system)
    assert history(first)[-1] == ("潜在客户", "成交客户", at("2026-02-10 10:30"), None)
    assert history(churned)[-1] == ("成交客户", "流失客户", at("2026-05-30 00:00"), None)
    reason = StatusChange.select().where(StatusChange.customer == churned.id).order_by(StatusChange.id.desc()).get().reason
    assert reason == "自动流转：180天未下单流失（进入当前状态后 180 天没有下单）"
    audit = {(a.action, a.record_id) for a in AuditLog.select().where(AuditLog.username == "system")}
    assert audit == {("auto-status", str(first.id)), ("auto-status", str(churned.id)), ("auto-tag", str(quoted.id))}
    row = AuditLog.get((AuditLog.action == "auto-status") & (AuditLog.record_id == str(first.id)))
    assert json.loads(row.changes)["reason"].startswith("自动流转：首次下单成交")

    # a second sweep changes nothing; nor does a later one for the same data
    before = (StatusChange.select().count(), AuditLog.select().count(), PipelineEvent.select().count())
    assert not any(r.any for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW))
    assert not any(r.any for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW + datetime.timedelta(hours=1)))
    assert (StatusChange.select().count(), AuditLog.select().count(), PipelineEvent.select().count()) == before

    # the quoted customer signs: 成交, and 待成交 comes off (the status left the from-statuses)
    make_order(quoted, ordered_at=at("2026-06-20 10:00"))
    results = {r.name: r for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW)}
    assert status(quoted) == "成交客户" and not tagged(quoted)
    assert (results["首次下单成交"].changed, results["报价待成交"].untagged) == (1, 1)
    assert AuditLog.select().where((AuditLog.action == "auto-untag") & (AuditLog.record_id == str(quoted.id))).exists()
    # a manual step back to 意向 does not bring the old quote back
    StatusChange.create(customer=quoted, from_status="成交客户", to_status="意向客户", reason="退单", at=at("2026-06-25 09:00"))
    Customer.update(status="意向客户").where(Customer.id == quoted.id).execute()
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert not tagged(quoted) and status(quoted) == "意向客户"


def test_chains_read_in_business_time_and_a_later_day_churns(seeded, person, make_order):
    """A 潜在 customer who bought once long ago: signed at the order, lost 180 days after it, in one sweep."""
    old = person(created="2025-01-01 09:00")
    make_order(old, ordered_at=at("2025-03-01 10:00"))
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert [h[:3] for h in history(old)] == [(None, "潜在客户", at("2025-01-01 09:00")),
                                             ("潜在客户", "成交客户", at("2025-03-01 10:00")),
                                             ("成交客户", "流失客户", at("2025-08-28 00:00"))]


def test_day_edges_of_no_order(seeded, person, make_order):
    customer = person("成交客户", "2025-01-01 09:00")
    make_order(customer, ordered_at=at("2026-01-01 23:59"))
    pipeline.sweep(as_of=datetime.date(2026, 6, 29), today=DAY, now=NOW)  # day 179
    assert status(customer) == "成交客户"
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)  # day 180
    assert status(customer) == "流失客户"
    assert history(customer)[-1][2] == at("2026-06-30 00:00")


def test_orders_dated_after_the_day_do_not_count(seeded, person, make_order):
    customer = person()
    make_order(customer, ordered_at=at("2026-07-01 00:00"))
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert status(customer) == "潜在客户"


def test_after_change_only_touches_the_customers_named(seeded, person, make_order):
    one, two = person(), person()
    make_order(one, ordered_at=at("2026-02-10 10:30"))
    make_order(two, ordered_at=at("2026-02-10 10:30"))
    pipeline.after_change([one.id], today=DAY, now=NOW)
    assert status(one) == "成交客户" and status(two) == "潜在客户"
    assert PipelineEvent.get().trigger == "change"


def test_a_disabled_or_broken_transition_does_nothing(seeded, person, make_order):
    customer = person()
    make_order(customer, ordered_at=at("2026-02-10 10:30"))
    PipelineTransition.update(enabled=False).where(PipelineTransition.name == "首次下单成交").execute()
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert status(customer) == "潜在客户"
    PipelineTransition.update(enabled=True, params='{"days": 0}', trigger="no_order").where(
        PipelineTransition.name == "首次下单成交").execute()
    results = {r.name: r for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW)}
    assert "天数应为 1 到 3650" in results["首次下单成交"].skipped and status(customer) == "潜在客户"


def test_reactivation_when_enabled(seeded, person, make_order):
    PipelineTransition.update(enabled=True).where(PipelineTransition.name == "流失客户回购").execute()
    lost = person("流失客户", changes=[("2026-02-01 09:00", "成交客户", "流失客户")])
    make_order(lost, ordered_at=at("2026-01-15 10:00"))  # before churning: not a comeback
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert status(lost) == "流失客户"
    make_order(lost, ordered_at=at("2026-04-15 10:00"))
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert status(lost) == "成交客户" and history(lost)[-1][:3] == ("流失客户", "成交客户", at("2026-04-15 10:00"))


def test_status_changes_re_check_tag_rules(seeded, person, make_order):
    tag = Tag.create(name="已成交", category="行为", source="rule")
    TagRule.create(name="已成交", tag=tag, enabled=True,
                   condition=json.dumps({"all": [{"metric": "status", "op": "=", "value": "成交客户"}]}))
    customer = person()
    make_order(customer, ordered_at=at("2026-02-10 10:30"))
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert tagged(customer, "已成交")


@pytest.mark.parametrize("change, message", [
    ({"trigger": "nope"}, "未知的触发条件"),
    ({"from_statuses": "潜在客户,大客户"}, "起始状态“大客户”无效"),
    ({"params": '{"days": "x"}', "trigger": "no_order"}, "天数应为 1 到 3650"),
    ({"params": '{"weeks": 3}', "trigger": "no_order"}, "没有参数“weeks”"),
    ({"params": "[1]"}, "参数应为 JSON 对象"),
    ({"to_status": None}, "请选择目标状态"),
    ({"to_status": "大客户"}, "目标状态“大客户”无效"),
    ({"to_status": " "}, "目标状态“ ”无效"),
    ({"from_statuses": "成交客户"}, "目标状态不能同时是起始状态"),
])
def test_check_refuses_bad_transitions_in_chinese(app, change, message):
    values = {"name": "测试", "trigger": "first_order", "from_statuses": "潜在客户", "to_status": "成交客户"}
    values.update(change)
    with pytest.raises(pipeline.Invalid, match=message):
        pipeline.check(PipelineTransition(**values))


def test_check_of_tag_transitions(app):
    manual = Tag.create(name="手动标签", category="行为", source="manual")
    ruled = Tag.create(name="规则维护", category="行为", source="rule")
    TagRule.create(name="r", tag=ruled, condition="{}", enabled=False)
    base = {"name": "t", "trigger": "followup_result", "from_statuses": "潜在客户，意向客户"}
    with pytest.raises(pipeline.Invalid, match="请选择目标标签"):
        pipeline.check(PipelineTransition(**base))
    with pytest.raises(pipeline.Invalid, match="是手动标签"):
        pipeline.check(PipelineTransition(to_tag=manual, **base))
    with pytest.raises(pipeline.Invalid, match="已由标签规则维护"):
        pipeline.check(PipelineTransition(to_tag=ruled, **base))
    with pytest.raises(pipeline.Invalid, match="“随便”不是"):
        pipeline.check(PipelineTransition(to_tag=Tag.create(name="ok", category="行为", source="rule"),
                                          params='{"results": "已报价,随便"}', **base))
    good = pipeline.check(PipelineTransition(to_tag=Tag.get(Tag.name == "ok"), **base))
    assert good.from_statuses == "潜在客户,意向客户" and json.loads(good.params) == {"results": ["已报价"]}


def test_a_crash_mid_transition_rolls_it_back_and_the_retry_fires_once(seeded, person, make_order, monkeypatch):
    customers = [person() for _ in range(3)]
    for c in customers:
        make_order(c, ordered_at=at("2026-02-10 10:30"))
    real_move = pipeline.engine._move

    def crash(*args, **kwargs):
        real_move(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(pipeline.engine, "_move", crash)
    with pytest.raises(RuntimeError):
        pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert not PipelineEvent.select().exists() and {status(c) for c in customers} == {"潜在客户"}
    assert not StatusChange.select().where(StatusChange.to_status == "成交客户").exists()
    monkeypatch.setattr(pipeline.engine, "_move", real_move)
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
    assert {status(c) for c in customers} == {"成交客户"}
    assert StatusChange.select().where(StatusChange.to_status == "成交客户").count() == 3


def test_two_workers_sweeping_at_once_fire_each_transition_once(seeded, person, make_order):
    import threading

    from models import db

    customers = [person() for _ in range(12)]
    for c in customers:
        make_order(c, ordered_at=at("2026-02-10 10:30"))
        FollowUp.create(customer=c, at=at("2026-01-20 10:00"), method="电话", content="报价", result="已报价")
    errors = []
    gate = threading.Barrier(2)

    def worker():
        try:
            with db.connection_context():
                gate.wait()
                pipeline.sweep(as_of=DAY, today=DAY, now=NOW)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert StatusChange.select().where(StatusChange.to_status == "成交客户").count() == 12
    # one per customer for 首次下单成交; 报价待成交 runs after it (position) and finds them signed already
    assert PipelineEvent.select().count() == 12
    assert {status(c) for c in customers} == {"成交客户"} and not CustomerTag.select().exists()


def test_one_sweep_reaches_the_fixed_point(seeded, person, make_order):
    """A comeback order makes 流失客户回购 fire after 180天未下单流失 has run; the customer's new 180 days have also
    run out by the day, so the same sweep applies the churn again and a second sweep has nothing to do."""
    PipelineTransition.update(enabled=True).where(PipelineTransition.name == "流失客户回购").execute()
    lost = person("流失客户", "2025-01-01 09:00", changes=[("2025-06-01 09:00", "潜在客户", "流失客户")])
    make_order(lost, ordered_at=at("2025-07-01 10:00"))  # after churning: back, and 180 days since by DAY
    results = {r.name: r.fired for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW)}
    assert results["流失客户回购"] == 1 and results["180天未下单流失"] == 1
    assert [h[:3] for h in history(lost)][-2:] == [("流失客户", "成交客户", at("2025-07-01 10:00")),
                                                  ("成交客户", "流失客户", at("2025-12-28 00:00"))]
    assert not any(r.any for r in pipeline.sweep(as_of=DAY, today=DAY, now=NOW))
