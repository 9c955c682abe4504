"""The per-customer figures (tagrules.figures) give the same customers as each comparison's own subquery.

For random condition trees over every metric of the registry, random records at the edges that matter
(window starts at midnight, the day's last second, the next day's midnight, future-dated rows, no rows at
all, complaints beside other feedback) and a day that is today or a past one (status from the history), the
figures path and the subquery path of tagrules.matching return the same customers; so do the figures of two
days in one pass (the preview's) and figures restricted to some customers (a large check after an import).
Runs on SQLite and PostgreSQL (DATABASE_URL).  Fixed dates only."""
import datetime
import decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagrules
from demo.fixed import REFERENCE_DAY
from models import Customer, Feedback, FollowUp, Order, StatusChange, db, is_sqlite
from tagrules import conditions, engine, figures, metrics

DAY = REFERENCE_DAY
CUSTOMERS = 6
HOUR = {"midnight": datetime.time(0, 0), "noon": datetime.time(12, 0), "last": datetime.time(23, 59, 59)}

number_days = st.sampled_from([1, 2, 7, 30, 31, 60, 365])
windowed = st.builds(
    lambda metric, days, op, value: {"metric": metric, "days": days, "op": op, "value": value},
    st.sampled_from(["order_total", "order_count", "complaint_count"]), number_days,
    st.sampled_from([">=", ">", "<=", "<", "=", "!="]), st.sampled_from([0, 1, 2, 3, 100, 150, 250, 1000]))
days_since = st.builds(
    lambda metric, op, value: {"metric": metric, "op": op, "value": value},
    st.sampled_from(["days_since_order", "days_since_followup", "days_since_feedback", "customer_age"]),
    st.sampled_from([">=", ">", "<=", "<"]), st.sampled_from([0, 1, 2, 7, 29, 30, 31, 60, 400]))
fields = st.one_of(
    st.builds(lambda op, value: {"metric": "status", "op": op, "value": value if op in ("=", "!=") else [value]},
              st.sampled_from(["=", "!=", "in", "not_in"]), st.sampled_from(["潜在客户", "意向客户", "成交客户", "流失客户"])),
    st.builds(lambda op, value: {"metric": "region", "op": op, "value": value}, st.sampled_from(["=", "!="]),
              st.sampled_from(["华北", "华东"])),
    st.builds(lambda op, value: {"metric": "employees", "op": op, "value": value}, st.sampled_from([">=", "<"]),
              st.sampled_from([10, 500])),
)
comparison = st.one_of(windowed, windowed, days_since, fields)
tree = st.recursive(comparison, lambda children: st.builds(
    lambda key, items: {key: items}, st.sampled_from(["all", "any"]), st.lists(children, min_size=1, max_size=3)),
    max_leaves=6)

# A record: (kind, customer index, days before DAY (negative: after it), hour, amount or feedback kind)
record = st.tuples(st.sampled_from(["order", "order", "followup", "feedback"]), st.integers(0, CUSTOMERS - 1),
                   st.sampled_from([-1, 0, 1, 6, 7, 29, 30, 31, 59, 60, 61, 364, 365, 366, 400]),
                   st.sampled_from(list(HOUR)), st.sampled_from([50, 100, 150, "投诉", "建议"]))


@pytest.fixture
def world(app, make_customer, users):
    """Six customers: old and new (first contact after a past day, or none: the record's creation), with and
    without employees, in two regions, one with a status history crossing the past days, one changed later."""
    old = DAY - datetime.timedelta(days=800)
    customers = [
        make_customer(first_contact=old, status="成交客户", employees=600),
        make_customer(first_contact=old, status="潜在客户", region="华东"),
        make_customer(first_contact=DAY - datetime.timedelta(days=20), status="意向客户", employees=5),
        make_customer(first_contact=None, status="成交客户", created_at=datetime.datetime.combine(
            DAY - datetime.timedelta(days=45), datetime.time(9))),
        make_customer(first_contact=old, status="流失客户", region="华东", employees=1000),
        make_customer(first_contact=DAY, status="潜在客户"),
    ]
    history = [(0, "潜在客户", "意向客户", 40), (0, "意向客户", "成交客户", 10), (4, "成交客户", "流失客户", 5),
               (1, "意向客户", "潜在客户", -2),  # after DAY: the past status comes from its from_status
               (3, None, "成交客户", -3),  # after DAY with no from_status: the current status holds
               (2, "潜在客户", "成交客户", 15), (2, "成交客户", "意向客户", 15)]  # one moment: the later id is the last
    for index, before, after, days in history:
        StatusChange.create(customer=customers[index], from_status=before, to_status=after, reason="测试",
                            at=datetime.datetime.combine(DAY - datetime.timedelta(days=days), datetime.time(10)))
    return customers


def _records(world, records):
    for model in (Order, FollowUp, Feedback):
        model.delete().execute()
    for n, (kind, index, days, hour, detail) in enumerate(records):
        when = datetime.datetime.combine(DAY - datetime.timedelta(days=days), HOUR[hour])
        customer = world[index]
        if kind == "order":
            amount = detail if isinstance(detail, (int, decimal.Decimal)) else 100
            Order.create(customer=customer, order_no=f"FG{n:06d}", ordered_at=when, amount=amount)
        elif kind == "followup":
            FollowUp.create(customer=customer, at=when, method="电话", content="x")
        else:
            Feedback.create(customer=customer, kind=detail if isinstance(detail, str) else "投诉", content="x",
                            created_at=when)


def _ids(query):
    return {row[0] for row in query.tuples()}


def _built(trees, days, within=None, name=figures.NAME):
    with db.atomic():
        engine.room_for_sets()
        return figures.build(trees, days, within, name)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(records=st.lists(record, max_size=14), trees=st.lists(tree, min_size=1, max_size=4),
       past=st.sampled_from([1, 7, 30, 31, 60]))
def test_figures_and_subqueries_match_the_same_customers(world, records, trees, past):
    _records(world, records)
    trees = [conditions.parse(t) for t in trees]
    today = metrics.Day(DAY)
    earlier = metrics.Day(DAY - datetime.timedelta(days=past), live=False)
    swept = _built(trees, [today])  # a sweep's: one day
    both = _built(trees, [today, earlier], name="tagrule_test_both")  # a preview's: two days in one pass
    some = [world[0].id, world[3].id, world[4].id]
    within = _built(trees, [today], within=some, name="tagrule_test_within")  # a large check: some customers
    imported = Customer.select(Customer.id).where(Customer.id.in_(some))  # after an import: a query of ids
    by_query = _built(trees, [today], within=imported, name="tagrule_test_query")
    try:
        for t in trees:
            alone_today = _ids(engine.matching(t, today))
            alone_earlier = _ids(engine.matching(t, earlier))
            if swept is not None:
                assert _ids(engine.matching(t, today, figures=swept)) == alone_today, conditions.describe(t)
                assert _ids(engine.matching(t, today, figures=both)) == alone_today, conditions.describe(t)
                assert _ids(engine.matching(t, earlier, figures=both)) == alone_earlier, conditions.describe(t)
                assert (_ids(engine.matching(t, today, within=some, figures=within))
                        == alone_today & set(some)), conditions.describe(t)
                assert (_ids(engine.matching(t, today, within=imported, figures=by_query))
                        == alone_today & set(some)), conditions.describe(t)
            else:  # no comparison of any tree reads a figure
                assert not any(conditions.needs(t, today) for t in trees)
    finally:
        for name in (figures.NAME, "tagrule_test_both", "tagrule_test_within", "tagrule_test_query"):
            figures.drop(name)


def test_window_edges_future_rows_and_never(world):
    """By hand: the first second of a window counts and the second before it does not; the day's last second
    counts and the next midnight does not; a customer without records is 'never' and has a total of 0."""
    a, b, c, d, e, f = world
    _records(world, [
        ("order", 0, 29, "midnight", 100),  # the first moment of the last 30 days
        ("order", 1, 30, "last", 100),  # the last moment before them
        ("order", 2, 0, "last", 150),  # DAY's last second
        ("order", 2, -1, "midnight", 1000),  # the next midnight: not known on DAY
        ("feedback", 3, 0, "noon", "建议"),  # feedback, not a complaint
        ("feedback", 4, 89, "midnight", "投诉"),
        ("followup", 4, -1, "noon", None),  # future-dated follow-up only
    ])
    today = metrics.Day(DAY)
    cases = [
        ({"metric": "order_total", "days": 30, "op": ">=", "value": 100}, {a.id, c.id}),
        ({"metric": "order_total", "days": 30, "op": "<", "value": 100}, {b.id, d.id, e.id, f.id}),
        ({"metric": "order_count", "days": 1, "op": "=", "value": 1}, {c.id}),
        ({"metric": "complaint_count", "days": 90, "op": ">=", "value": 1}, {e.id}),
        ({"metric": "complaint_count", "days": 89, "op": "=", "value": 0}, {a.id, b.id, c.id, d.id, e.id, f.id}),
        ({"metric": "days_since_feedback", "op": "<=", "value": 0}, {d.id}),
        ({"metric": "days_since_followup", "op": ">=", "value": 1000}, {a.id, b.id, c.id, d.id, e.id, f.id}),
        ({"metric": "days_since_order", "op": "<", "value": 30}, {a.id, c.id}),
        ({"metric": "days_since_order", "op": ">=", "value": 30}, {b.id, d.id, e.id, f.id}),
    ]
    trees = [conditions.parse(t) for t, _ in cases]
    built = _built(trees, [today])
    try:
        for t, (_, expected) in zip(trees, cases):
            assert _ids(engine.matching(t, today)) == expected, conditions.describe(t)
            assert _ids(engine.matching(t, today, figures=built)) == expected, conditions.describe(t)
    finally:
        built.drop()


def test_order_totals_are_exact_to_the_cent(world):
    """The figures add money up exactly (on PostgreSQL as whole cents, figures._summable): 33,333.33 twice and
    33,333.34 make 100,000.00 and match >= 100000; three times 33,333.33 make 99,999.99 and do not; a
    total of 0.10 from 0.01s is not 0.1 plus float error."""
    a, b, c, *_ = world
    cent = decimal.Decimal
    _records(world, [("order", 0, 1, "noon", cent("33333.33")), ("order", 0, 2, "noon", cent("33333.33")),
                     ("order", 0, 3, "noon", cent("33333.34")), ("order", 1, 1, "noon", cent("33333.33")),
                     ("order", 1, 2, "noon", cent("33333.33")), ("order", 1, 3, "noon", cent("33333.33"))]
             + [("order", 2, 1 + k, "noon", cent("0.01")) for k in range(10)])
    today = metrics.Day(DAY)
    cases = [({"metric": "order_total", "days": 365, "op": ">=", "value": 100000}, {a.id}),
             ({"metric": "order_total", "days": 365, "op": "=", "value": 0.1}, {c.id}),
             ({"metric": "order_total", "days": 365, "op": "<", "value": 100000},
              {b.id, c.id} | {w.id for w in world[3:]})]
    trees = [conditions.parse(t) for t, _ in cases]
    built = _built(trees, [today])
    try:
        for t, (_, expected) in zip(trees, cases):
            assert _ids(engine.matching(t, today, figures=built)) == expected, conditions.describe(t)
            assert _ids(engine.matching(t, today)) == expected, conditions.describe(t)
    finally:
        built.drop()


def test_a_sweep_builds_the_figures_once_and_drops_them(world, monkeypatch):
    """engine.evaluate over every customer builds one figures table for all rules, every rule reads it, and
    it is gone afterwards (a second sweep on the same connection builds it again)."""
    import json

    from models import Tag, TagRule

    _records(world, [("order", 0, 3, "noon", 150), ("followup", 1, 30, "noon", None)])
    tag = Tag.create(name="测试规则标签", category="行为", source="rule")
    for n, cond in enumerate([{"metric": "order_total", "days": 30, "op": ">=", "value": 100},
                              {"metric": "days_since_followup", "op": ">=", "value": 60},
                              {"metric": "region", "op": "=", "value": "华东"}]):
        TagRule.create(name=f"规则{n}", tag=tag, condition=json.dumps(cond), enabled=True)
    builds, reads = [], []
    real_build, real_matching = figures.build, engine.matching

    def counting_build(*args, **kwargs):
        builds.append(args[1])
        return real_build(*args, **kwargs)

    def counting_matching(t, day, within=None, figures=None):
        reads.append(figures is not None and figures.serves(t, day))
        return real_matching(t, day, within, figures)

    monkeypatch.setattr(figures, "build", counting_build)
    monkeypatch.setattr(engine, "matching", counting_matching)
    results = tagrules.sweep(as_of=DAY, today=DAY)
    assert len(builds) == 1 and reads == [True, True, False]
    assert {r.rule: r.applied for r in results} == {"规则0": 1, "规则1": 5, "规则2": 2}
    if is_sqlite():
        left = db.execute_sql("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = ?", (figures.NAME,)).fetchone()[0]
    else:
        left = db.execute_sql("SELECT COUNT(*) FROM pg_tables WHERE tablename = %s", (figures.NAME,)).fetchone()[0]
    assert left == 0
    assert not any(r.changed for r in tagrules.sweep(as_of=DAY, today=DAY))
    assert Customer.select().count() == CUSTOMERS
