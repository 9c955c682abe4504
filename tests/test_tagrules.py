"""Tag rules (tagrules package): metrics, conditions, application and removal, episodes, sweeps, preview,
editing.  Fixed dates: the day is always a parameter (REFERENCE_DAY)."""
import datetime
import json

import pytest

import tagrules
from demo.fixed import REFERENCE_DAY
from models import AuditLog, CustomerTag, Feedback, FollowUp, Tag, TagRule, TagRuleEpisode, change_status
from tagrules import conditions, metrics

DAY = REFERENCE_DAY
NOW = datetime.datetime.combine(DAY, datetime.time(9))


def at(days_ago, hour=10):
    return datetime.datetime.combine(DAY - datetime.timedelta(days=days_ago), datetime.time(hour))


@pytest.fixture
def rule_tags(app):
    return {"vip": Tag.create(name="高价值", category="价值", source="rule"),
            "churn": Tag.create(name="流失风险", category="价值", source="rule"),
            "recent": Tag.create(name="近30天下单", category="行为", source="rule"),
            "price": Tag.create(name="价格敏感", category="偏好", source="manual")}


def rule(tag, condition, enabled=True, name=None):
    return TagRule.create(name=name or f"规则{tag.name}", tag=tag, condition=json.dumps(condition), enabled=enabled)


VIP = {"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000}]}
RECENT = {"all": [{"metric": "order_count", "days": 30, "op": ">=", "value": 1}]}


def tagged(tag):
    return {(ct.customer_id, ct.source) for ct in CustomerTag.select().where(CustomerTag.tag == tag.id)}


def ids(query):
    return {c.id for c in query}


# --- metrics and conditions -------------------------------------------------------------------------
def test_order_total_window_edges(rule_tags, make_customer, make_order):
    inside = make_customer()
    make_order(inside, amount="60000", ordered_at=at(364, 23))  # the first day of the 365
    make_order(inside, amount="40000", ordered_at=at(0, 23))  # as_of itself
    outside = make_customer()
    make_order(outside, amount="60000", ordered_at=at(365))  # one day too early
    make_order(outside, amount="40000", ordered_at=at(0))
    future = make_customer()
    make_order(future, amount="100000", ordered_at=at(-1))  # after as_of: not known yet
    tree = conditions.parse(VIP)
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {inside.id}


def test_below_a_threshold_includes_customers_without_orders(rule_tags, make_customer, make_order):
    none = make_customer()
    small = make_customer()
    make_order(small, amount="50", ordered_at=at(3))
    big = make_customer()
    make_order(big, amount="500", ordered_at=at(3))
    tree = conditions.parse({"metric": "order_total", "days": 30, "op": "<", "value": 100})
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {none.id, small.id}


def test_days_since_follow_up_and_order(rule_tags, make_customer, make_order):
    quiet = make_customer(first_contact=DAY - datetime.timedelta(days=400))
    make_order(quiet, ordered_at=at(60))
    FollowUp.create(customer=quiet, at=at(61), method="电话", content="x")
    called = make_customer(first_contact=DAY - datetime.timedelta(days=400))
    FollowUp.create(customer=called, at=at(59), method="电话", content="x")
    ordered = make_customer(first_contact=DAY - datetime.timedelta(days=400))
    make_order(ordered, ordered_at=at(10))
    new = make_customer(first_contact=DAY - datetime.timedelta(days=20))  # never contacted, but new
    tree = conditions.parse({"all": [{"metric": "days_since_followup", "op": ">=", "value": 60},
                                     {"metric": "days_since_order", "op": ">=", "value": 60},
                                     {"metric": "customer_age", "op": ">=", "value": 60}]})
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {quiet.id}
    within = conditions.parse({"metric": "days_since_order", "op": "<=", "value": 10})
    assert ids(tagrules.matching(within, metrics.Day(DAY))) == {ordered.id}
    assert new.id not in ids(tagrules.matching(tree, metrics.Day(DAY)))


def test_choices_complaints_and_any(rule_tags, make_customer):
    north = make_customer(region="华北")
    south = make_customer(region="华南", industry="制造业")
    angry = make_customer(region="华东")
    for days in (3, 40):
        Feedback.create(customer=angry, kind="投诉", content="慢", created_at=at(days))
    tree = conditions.parse({"any": [{"metric": "region", "op": "=", "value": "华北"},
                                     {"metric": "complaint_count", "days": 30, "op": ">=", "value": 1}]})
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {north.id, angry.id}
    tree = conditions.parse({"metric": "industry", "op": "not_in", "value": ["互联网"]})
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {south.id}


def test_status_on_a_past_day_comes_from_the_history(rule_tags, make_customer, users):
    customer = make_customer(status="潜在客户")
    change = change_status(customer, "成交客户", "签约", users["admin"])
    change.at = at(5)
    change.save()
    tree = conditions.parse({"metric": "status", "op": "=", "value": "成交客户"})
    assert ids(tagrules.matching(tree, metrics.Day(DAY))) == {customer.id}
    assert ids(tagrules.matching(tree, metrics.Day(DAY - datetime.timedelta(days=10), live=False))) == set()
    assert ids(tagrules.matching(tree, metrics.Day(DAY - datetime.timedelta(days=2), live=False))) == {customer.id}


@pytest.mark.parametrize("condition, message", [
    ('{"all": [', "不是合法的 JSON"),
    ({"all": []}, "非空列表"),
    ({"metric": "revenue_magic", "op": ">=", "value": 1}, "未知的指标“revenue_magic”"),
    ({"metric": "order_total", "op": "in", "value": [1]}, "不能使用运算符“in”"),
    ({"metric": "region", "op": ">=", "value": "华北"}, "不能使用运算符“>=”"),
    ({"metric": "order_count", "days": -5, "op": ">=", "value": 1}, "天数 N 必须是 1 到 3650"),
    ({"metric": "order_count", "days": "30", "op": ">=", "value": 1}, "天数 N 必须是 1 到 3650"),
    ({"metric": "order_total", "op": ">=", "value": "很多"}, "值必须是数字"),
    ({"metric": "order_total", "op": ">=", "value": -1}, "不能为负数"),
    ({"metric": "region", "op": "=", "value": "火星"}, "“火星”不是所属地区的选项"),
    ({"metric": "days_since_order", "days": 3, "op": ">=", "value": 1}, "没有天数 N"),
    ({"metric": "order_total", "op": ">=", "value": 1, "oops": 1}, "未知的键 oops"),
    ({"nothing": 1}, "应包含 all、any 或 metric"),
    ([1, 2], "应为对象"),
])
def test_bad_conditions_get_a_chinese_message(app, condition, message):
    with pytest.raises(conditions.Invalid, match=message):
        conditions.parse(json.dumps(condition) if not isinstance(condition, str) else condition)


def test_describe(app):
    tree = conditions.parse({"all": [{"metric": "order_total", "days": 365, "op": ">=", "value": 100000},
                                     {"any": [{"metric": "region", "op": "in", "value": ["华北", "华东"]}]}]})
    assert conditions.describe(tree) == "近365天订单金额 ≥ 100,000元 且 （所属地区 属于 华北、华东）"


# --- application and removal -----------------------------------------------------------------------
def test_sweep_applies_and_removes_rule_tags_and_never_touches_manual_ones(rule_tags, make_customer, make_order):
    vip_rule = rule(rule_tags["vip"], VIP)
    big, small, pinned = make_customer(), make_customer(), make_customer()
    make_order(big, amount="120000", ordered_at=at(100))
    make_order(small, amount="10", ordered_at=at(100))
    CustomerTag.create(customer=small, tag=rule_tags["price"], source="manual")
    CustomerTag.create(customer=pinned, tag=rule_tags["vip"], source="manual")  # an old manual row: left alone
    results = tagrules.sweep(as_of=DAY, today=DAY, now=NOW)
    assert [(r.applied, r.removed, r.tagged, r.untagged) for r in results] == [(1, 0, 1, 0)]
    assert tagged(rule_tags["vip"]) == {(big.id, "rule"), (pinned.id, "manual")}
    # a second sweep with no change in the data changes nothing
    again = tagrules.sweep(as_of=DAY, today=DAY, now=NOW)
    assert not any(r.changed for r in again)
    assert AuditLog.select().where(AuditLog.action == "rule-apply").count() == 1
    # a year later the order has left the window: the tag goes, the manual rows stay
    later = DAY + datetime.timedelta(days=300)
    results = tagrules.sweep(as_of=later, today=later, now=NOW)
    assert [(r.applied, r.removed, r.untagged) for r in results] == [(0, 1, 1)]
    assert tagged(rule_tags["vip"]) == {(pinned.id, "manual")}
    assert tagged(rule_tags["price"]) == {(small.id, "manual")}
    episode = TagRuleEpisode.get(TagRuleEpisode.customer == big.id)
    assert (episode.rule_id, episode.episode, episode.applied_on, episode.removed_on) == (vip_rule.id, 1, DAY, later)


def test_a_customer_who_matches_again_gets_a_new_episode(rule_tags, make_customer, make_order):
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, ordered_at=at(1))
    tagrules.sweep(as_of=DAY, today=DAY)
    later = DAY + datetime.timedelta(days=40)
    tagrules.sweep(as_of=later, today=later)
    make_order(customer, ordered_at=datetime.datetime.combine(later, datetime.time(8)))
    tagrules.sweep(as_of=later, today=later)
    tagrules.sweep(as_of=later, today=later)
    episodes = [(e.episode, e.removed_at is None) for e in TagRuleEpisode.select().order_by(TagRuleEpisode.episode)]
    assert episodes == [(1, False), (2, True)]
    assert tagged(rule_tags["recent"]) == {(customer.id, "rule")}


def test_disabled_rule_and_two_rules_of_one_tag(rule_tags, make_customer, make_order):
    by_total = rule(rule_tags["vip"], VIP, name="按金额")
    by_region = rule(rule_tags["vip"], {"metric": "region", "op": "=", "value": "华北"}, name="按地区")
    customer = make_customer(region="华北")
    make_order(customer, amount="200000", ordered_at=at(3))
    tagrules.sweep(as_of=DAY, today=DAY)
    assert tagged(rule_tags["vip"]) == {(customer.id, "rule")}
    tagrules.set_enabled(by_total.id, False, today=DAY)
    assert tagged(rule_tags["vip"]) == {(customer.id, "rule")}  # the other rule still holds it
    tagrules.set_enabled(by_region.id, False, today=DAY)
    assert tagged(rule_tags["vip"]) == set()
    assert TagRuleEpisode.select().where(TagRuleEpisode.removed_at.is_null()).count() == 0


def test_retired_tag_is_skipped(rule_tags, make_customer, make_order):
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, ordered_at=at(1))
    Tag.update(retired_at=NOW).where(Tag.id == rule_tags["recent"].id).execute()
    results = tagrules.sweep(as_of=DAY, today=DAY)
    assert results[0].skipped == "retired" and tagged(rule_tags["recent"]) == set()


def test_a_rule_whose_condition_no_longer_parses_is_skipped_not_fatal(rule_tags, make_customer, make_order):
    rule(rule_tags["vip"], {"metric": "retired_metric", "op": ">=", "value": 1}, name="旧规则")
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, ordered_at=at(1))
    results = tagrules.sweep(as_of=DAY, today=DAY)
    assert results[0].skipped.startswith("条件无效：未知的指标") and results[1].applied == 1


def test_a_tag_made_manual_in_the_library_is_left_to_people(rule_tags, make_customer, make_order):
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, ordered_at=at(1))
    tagrules.sweep(as_of=DAY, today=DAY)
    Tag.update(source="manual").where(Tag.id == rule_tags["recent"].id).execute()
    later = DAY + datetime.timedelta(days=60)
    results = tagrules.sweep(as_of=later, today=later)
    assert results[0].skipped == "“近30天下单”已改为手动标签"
    assert tagged(rule_tags["recent"]) == {(customer.id, "rule")}  # nothing removed behind people's backs


def test_after_change_evaluates_only_the_changed_customers(rule_tags, make_customer, make_order):
    rule(rule_tags["recent"], RECENT)
    one, other = make_customer(), make_customer()
    make_order(one, ordered_at=at(1))
    make_order(other, ordered_at=at(1))
    results = tagrules.after_change([one.id], today=DAY)
    assert results[0].applied == 1
    assert tagged(rule_tags["recent"]) == {(one.id, "rule")}
    log = AuditLog.select().where(AuditLog.action == "rule-apply").get()
    assert json.loads(log.changes)["trigger"] == "change" and json.loads(log.changes)["customers"] == [one.id]


def test_crash_mid_sweep_and_retry(rule_tags, make_customer, make_order, monkeypatch):
    rule(rule_tags["vip"], VIP)
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, amount="150000", ordered_at=at(2))
    real = tagrules.engine.sync_tag
    calls = []

    def crash(tag_id, within=None, now=None):
        calls.append(tag_id)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(tag_id, within, now)

    monkeypatch.setattr(tagrules.engine, "sync_tag", crash)
    with pytest.raises(RuntimeError):
        tagrules.sweep(as_of=DAY, today=DAY)
    assert tagged(rule_tags["vip"]) == {(customer.id, "rule")}
    assert TagRuleEpisode.select().count() == 1  # the second rule rolled back whole
    monkeypatch.setattr(tagrules.engine, "sync_tag", real)
    results = tagrules.sweep(as_of=DAY, today=DAY)
    assert [(r.tag, r.applied) for r in results] == [("高价值", 0), ("近30天下单", 1)]
    assert TagRuleEpisode.select().count() == 2


def test_cli_sweep(app, rule_tags, make_customer, make_order):
    customer = make_customer()
    make_order(customer, ordered_at=datetime.datetime.now() - datetime.timedelta(days=1))
    from run import cli

    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["tag-rules", "--seed"])
    assert result.exit_code == 0, result.output
    assert "已创建规则：近30天下单" in result.output and "近30天下单（近30天下单）：新增 1，移除 0" in result.output
    again = runner.invoke(cli, ["tag-rules"])
    assert "新增 0，移除 0" in again.output
    bad = runner.invoke(cli, ["tag-rules", "--as-of", "2999-01-01"])
    assert bad.exit_code != 0 and "不能晚于今天" in bad.output


def test_job_is_registered(app):
    import jobs

    jobs.discover()
    assert jobs.get("tag-rules").schedule == "15 3 * * *"


# --- preview ----------------------------------------------------------------------------------------
def test_preview_now_past_gained_lost_in_scope(rule_tags, make_customer, make_order, users):
    gains = make_customer(owner="sales1")
    make_order(gains, ordered_at=at(2))
    loses = make_customer(owner="sales1")
    make_order(loses, ordered_at=at(45))
    stays = make_customer(owner="sales1")
    make_order(stays, ordered_at=at(2))
    make_order(stays, ordered_at=at(40))
    theirs = make_customer(owner="sales3")  # manager2's team
    make_order(theirs, ordered_at=at(2))
    past = DAY - datetime.timedelta(days=30)
    everyone = tagrules.preview(RECENT, None, today=DAY, past=past)
    assert (everyone.now_count, everyone.past_count, everyone.gained_count, everyone.lost_count) == (3, 2, 2, 1)
    rep = tagrules.preview(RECENT, users["manager"], today=DAY, past=past)  # team sales1, sales2
    assert (rep.now_count, rep.past_count, rep.gained_count, rep.lost_count) == (2, 2, 1, 1)
    assert [r["id"] for r in rep.gained_rows] == [gains.id] and [r["id"] for r in rep.lost_rows] == [loses.id]
    assert theirs.id not in {r["id"] for r in rep.now_rows}
    with pytest.raises(tagrules.Invalid, match="晚于今天"):
        tagrules.preview(RECENT, None, today=DAY, past=DAY + datetime.timedelta(days=1))
    with pytest.raises(tagrules.Invalid, match="对比日期无效"):
        tagrules.preview(RECENT, None, today=DAY, past="昨天")
    assert TagRuleEpisode.select().count() == 0  # a preview writes nothing


# --- editing ----------------------------------------------------------------------------------------
def test_save_checks_audits_and_applies(rule_tags, make_customer, make_order, users):
    customer = make_customer()
    make_order(customer, ordered_at=at(1))
    values = {"name": "近期下单", "tag": "近30天下单", "condition": json.dumps(RECENT), "enabled": True}
    with pytest.raises(tagrules.Refused, match="没有修改标签规则的权限"):
        tagrules.save(values, users["manager"], today=DAY)
    with pytest.raises(tagrules.Refused, match="是手动标签"):
        tagrules.save({**values, "tag": "价格敏感"}, users["admin"], today=DAY)
    with pytest.raises(tagrules.Invalid, match="未知的指标"):
        tagrules.save({**values, "condition": '{"metric": "x", "op": ">=", "value": 1}'}, users["admin"], today=DAY)
    assert TagRule.select().count() == 0 and AuditLog.select().where(AuditLog.model == "tagrule").count() == 0
    saved, result = tagrules.save(values, users["admin"], today=DAY)
    assert result.applied == 1 and tagged(rule_tags["recent"]) == {(customer.id, "rule")}
    audit = AuditLog.get((AuditLog.model == "tagrule") & (AuditLog.action == "create"))
    assert audit.username == "admin" and json.loads(audit.changes)["tag"] == [None, "近30天下单"]
    snapshot = tagrules.delete(saved.id, users["admin"])
    assert snapshot["closed"] == 1 and tagged(rule_tags["recent"]) == set()
    assert AuditLog.select().where((AuditLog.model == "tagrule") & (AuditLog.action == "delete")).count() == 1


def test_seed_rules(app):
    created = tagrules.seed_rules()
    assert [r.tag.name for r in created] == ["高价值", "流失风险", "近30天下单"]
    assert tagrules.seed_rules() == []
    assert Tag.get(Tag.name == "近30天下单").source == "rule"


def test_demo_rule_tags_come_from_the_seeded_rules(app):
    import demo
    from demo.fixed import REFERENCE_NOW

    demo.generate(customers=200, seed=5, password="x-pass-123", now=REFERENCE_NOW)
    for rule_row in TagRule.select():
        expected = ids(tagrules.matching(conditions.parse(rule_row.condition), metrics.Day(DAY)))
        assert {c for c, _ in tagged(rule_row.tag)} == expected, rule_row.name
    sizes = {r.tag.name: len(tagged(r.tag)) for r in TagRule.select()}
    assert all(sizes.values()), sizes
    assert not any(r.changed for r in tagrules.sweep(as_of=DAY, today=DAY))


def test_the_daily_job_runs_on_the_queue(app, queue_inline, rule_tags, make_customer, make_order):
    import jobs

    jobs.discover()
    rule(rule_tags["recent"], RECENT)
    customer = make_customer()
    make_order(customer, ordered_at=datetime.datetime.now() - datetime.timedelta(days=1))
    run = jobs.run_now("tag-rules", username="admin")
    from models import JobRun

    assert JobRun.get_by_id(run.id).status == "success"
    assert tagged(rule_tags["recent"]) == {(customer.id, "rule")}
    assert TagRule.get().last_swept_on == datetime.date.today()
