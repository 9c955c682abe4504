"""Property-based: whatever the sequence of orders, days passing, sweeps, retried sweeps, sweeps that crash
half-way and are run again, two workers sweeping at once and per-customer checks after a change, the rule
tags are exactly the customers the rules match, each rule opens one episode per customer for each time the
customer starts matching (never two, never none), and manual rows are never touched.

The expected state comes from a plain-Python model of the same orders (the reference), evaluated at the
same points.  Runs on SQLite and on PostgreSQL (DATABASE_URL)."""
import datetime
import itertools
import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
import tagrules
from models import Customer, CustomerTag, Order, Tag, TagRule, TagRuleEpisode
from tagrules import engine

START = datetime.date(2026, 12, 7)
CUSTOMERS = 4
_numbers = itertools.count(1)
RULES = {
    # name -> (condition, reference test over [(date, amount)] and the day)
    "金额": ({"metric": "order_total", "days": 30, "op": ">=", "value": 100},
             lambda orders, day: sum(a for d, a in orders if day - datetime.timedelta(days=29) <= d <= day) >= 100),
    "近期": ({"metric": "order_count", "days": 10, "op": ">=", "value": 1},
             lambda orders, day: any(day - datetime.timedelta(days=9) <= d <= day for d, _ in orders)),
}

sweep = st.tuples(st.just("sweep"), st.sampled_from(["plain", "retry", "crash", "two_workers", "change"]))
step = st.one_of(
    sweep,
    st.tuples(st.just("order"), st.integers(0, CUSTOMERS - 1), st.integers(-40, 5), st.sampled_from([50, 100, 200])),
    st.tuples(st.just("advance"), st.integers(1, 25)),
    st.tuples(st.just("cancel"), st.integers(0, CUSTOMERS - 1)),
    sweep,
)


@pytest.fixture
def world(app):
    vip = Tag.create(name="大额", category="价值", source="rule")
    recent = Tag.create(name="近期下单", category="行为", source="rule")
    manual = Tag.create(name="价格敏感", category="偏好", source="manual")
    rules = {name: TagRule.create(name=name, tag=vip if name == "金额" else recent, condition=json.dumps(cond),
                                  enabled=True) for name, (cond, _) in RULES.items()}
    customers = [Customer.create(name=f"客户{i}", first_contact=START - datetime.timedelta(days=1000))
                 for i in range(CUSTOMERS)]
    return {"rules": rules, "customers": customers, "manual": manual, "vip": vip}


def _reset(world):
    for model in (TagRuleEpisode, CustomerTag, Order):  # the audit log is append-only (models/audit.py)
        model.delete().execute()
    first = world["customers"][0]
    # a manual row of the rule's tag (an old one) and of a manual tag: neither side may ever touch them
    CustomerTag.create(customer=first, tag=world["vip"], source="manual")
    CustomerTag.create(customer=first, tag=world["manual"], source="manual")


class Crash(Exception):
    pass


def _sweep(day, mode, world):
    ids = [c.id for c in world["customers"]]
    if mode == "plain":
        tagrules.sweep(as_of=day, today=day)
    elif mode == "retry":
        tagrules.sweep(as_of=day, today=day)
        assert not any(r.changed for r in tagrules.sweep(as_of=day, today=day)), "a retry changed something"
    elif mode == "change":
        tagrules.engine.evaluate(day, customer_ids=ids, trigger="change")
    elif mode == "crash":
        real, calls = engine.sync_tag, []

        def dying(tag_id, within=None, now=None):
            calls.append(tag_id)
            if len(calls) == 2:
                raise Crash()
            return real(tag_id, within, now)

        engine.sync_tag = dying
        try:
            with pytest.raises(Crash):
                tagrules.sweep(as_of=day, today=day)
        finally:
            engine.sync_tag = real
        tagrules.sweep(as_of=day, today=day)  # the next run finishes the job
    else:  # two workers at once
        barrier, errors = threading.Barrier(2), []

        def worker():
            try:
                barrier.wait()
                tagrules.sweep(as_of=day, today=day)
            except Exception as error:  # noqa: BLE001
                errors.append(error)
            finally:
                models.db.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=16))
def test_rules_never_fire_twice_and_never_miss(world, steps):
    _reset(world)
    day = START
    orders = {i: [] for i in range(CUSTOMERS)}  # the reference: customer index -> [(date, amount)]
    matched = {name: set() for name in RULES}  # per rule, who matched at the last evaluation
    starts = {(name, i): 0 for name in RULES for i in range(CUSTOMERS)}  # times each started matching
    for kind, *args in steps:
        if kind == "order":
            index, offset, amount = args
            when = day + datetime.timedelta(days=offset)
            Order.create(customer=world["customers"][index], order_no=f"P{next(_numbers):08d}",
                         ordered_at=datetime.datetime.combine(when, datetime.time(12)), amount=amount)
            orders[index].append((when, amount))
        elif kind == "cancel":
            (index,) = args
            Order.delete().where(Order.customer == world["customers"][index]).execute()
            orders[index] = []
        elif kind == "advance":
            day += datetime.timedelta(days=args[0])
        else:
            _sweep(day, args[0], world)
            for name, (_, test) in RULES.items():
                now = {i for i in range(CUSTOMERS) if test([o for o in orders[i] if o[0] <= day], day)}
                for i in now - matched[name]:
                    starts[(name, i)] += 1
                matched[name] = now
            _check(world, matched, starts)


def _check(world, matched, starts):
    customers = world["customers"]
    for name, rule in world["rules"].items():
        episodes = list(TagRuleEpisode.select().where(TagRuleEpisode.rule == rule.id))
        open_ = [e.customer_id for e in episodes if e.removed_at is None]
        assert len(open_) == len(set(open_)), f"{name}: two open episodes of one customer"
        assert set(open_) == {customers[i].id for i in matched[name]}, f"{name}: open episodes differ from matches"
        for i, customer in enumerate(customers):
            mine = sorted(e.episode for e in episodes if e.customer_id == customer.id)
            assert mine == list(range(1, starts[(name, i)] + 1)), f"{name}, customer {i}: episodes {mine}"
        rows = {(ct.customer_id, ct.source) for ct in CustomerTag.select().where(CustomerTag.tag == rule.tag_id)}
        expected = {(customers[i].id, "rule") for i in matched[name]}
        if rule.tag_id == world["vip"].id:  # customer 0 keeps its manual row, and gets no rule row beside it
            expected = {row for row in expected if row[0] != customers[0].id} | {(customers[0].id, "manual")}
        assert rows == expected, f"{name}: tag rows differ"
    assert CustomerTag.select().where(CustomerTag.tag == world["manual"].id).count() == 1
