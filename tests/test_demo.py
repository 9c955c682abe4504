"""The demo generator on a real database: the data it makes must hold the invariants the
application relies on (codes, unique numbers, sealed columns, status history, search)."""
import collections
import datetime
import re

import pytest
import time_machine

import demo
import pipeline
from demo import builder, numbers, seasons, workers
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from models import (
    Choice,
    Customer,
    CustomerTag,
    Feedback,
    FollowUp,
    Order,
    PipelineTransition,
    StatusChange,
    Tag,
    User,
    db,
    sealed,
    search,
)
from models.activity import FEEDBACK_KINDS, FEEDBACK_STATUSES, FOLLOW_METHODS, FOLLOW_RESULTS, TAG_CATEGORIES
from models.customers import STATUSES, next_code
from peewee import fn
from models.validation import CODE_RE, EMAIL_RE, MOBILE_RE, PHONE_RE

from tests.conftest import PASSWORD

N = 400


@pytest.fixture
def counts(app):
    return demo.generate(customers=N, seed=11, password=PASSWORD, now=REFERENCE_NOW)


def _raw(sql, *params):
    return db.execute_sql(sql, params).fetchall()


def test_counts_match_the_tables_and_histories_are_moderate(counts):
    assert Customer.select().count() == N
    for name, model in [("order", Order), ("follow_up", FollowUp), ("status_change", StatusChange),
                        ("feedback", Feedback), ("customer_tag", CustomerTag), ("tag", Tag)]:
        assert model.select().count() == counts[name] > 0, name
    assert 2 <= counts["order"] / N <= 7
    assert 1 <= counts["follow_up"] / N <= 5
    assert {t.category for t in Tag.select()} == {c for c, _ in TAG_CATEGORIES}
    assert 20 <= Tag.select().count() <= 60
    assert {ct.source for ct in CustomerTag.select()} == {"manual", "rule"}


def test_customers_are_spread_over_the_sales_reps_only(counts):
    owners = collections.Counter(c.owner.username for c in Customer.select(Customer, User).join(User))
    assert set(owners) == {"sales1", "sales2", "sales3"}
    assert min(owners.values()) > N // 10
    assert Customer.select().where(Customer.owner.is_null()).count() == 0
    managers = {u.username: (u.manager.username if u.manager else None) for u in User.select()}
    assert managers["sales1"] == managers["sales2"] == "manager" and managers["sales3"] == "manager2"
    assert not any(u.must_change_password for u in User.select())


def test_codes_are_unique_and_continue_like_next_code(counts):
    customers = list(Customer.select().order_by(Customer.id))
    codes = [c.code for c in customers]
    assert len(set(codes)) == N
    assert all(CODE_RE.match(code) for code in codes)
    region_codes = {c.name: c.code for c in Choice.select().where(Choice.kind == "region")}
    industry_codes = {c.name: c.code for c in Choice.select().where(Choice.kind == "industry")}
    sequences = collections.defaultdict(list)
    for c in customers:
        region, industry, year, sequence = c.code.split("-")
        assert (region, industry, int(year)) == (region_codes[c.region], industry_codes[c.industry],
                                                c.first_contact.year)
        sequences[c.code.rsplit("-", 1)[0]].append(int(sequence))
    for prefix, taken in sequences.items():
        assert taken == list(range(1, len(taken) + 1)), prefix  # in id (= first contact) order, no gaps
    last = customers[-1]
    prefix = last.code.rsplit("-", 1)[0]
    assert next_code(last.region, last.industry, last.first_contact) == f"{prefix}-{len(sequences[prefix]) + 1:03d}"
    first_contacts = [c.first_contact for c in customers]
    assert first_contacts == sorted(first_contacts)


def test_names_and_contact_details_look_real(counts):
    customers = list(Customer.select())
    mobiles = [c.mobile for c in customers]
    assert all(MOBILE_RE.match(m) for m in mobiles)
    assert len(set(mobiles)) == N
    phones = [c.phone for c in customers if c.phone]
    assert phones and all(PHONE_RE.match(p) and "-" in p for p in phones)
    emails = [c.email for c in customers if c.email]
    assert len(emails) > N // 3 and all(EMAIL_RE.match(e) for e in emails)
    kinds = collections.Counter(c.customer_type for c in customers)
    assert kinds["企业"] > N // 3 and kinds["个人"] > N // 6
    for c in customers:
        assert c.contact and c.region and c.industry and c.source and c.first_contact
        if c.customer_type == "个人":
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,5}", c.name), c.name
            assert c.contact == c.name
        else:
            assert c.name.endswith("公司") and len(c.name) >= 8, c.name
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,5}", c.contact)
            assert c.employees and c.annual_revenue > 0
    assert {c.region for c in customers} <= set(Choice.names("region"))
    assert {c.industry for c in customers} <= set(Choice.names("industry"))
    assert {c.source for c in customers} <= set(Choice.names("source"))


def test_sensitive_columns_are_sealed_valid_and_findable_by_digest(counts):
    raw = {cid: (id_number, bank) for cid, id_number, bank in _raw("SELECT id, id_number, bank_account FROM customer")}
    people = list(Customer.select().where(Customer.customer_type == "个人"))
    assert people
    for c in people:
        assert numbers.valid_id_number(c.id_number), c.id_number
        assert raw[c.id][0] and c.id_number not in raw[c.id][0]
        assert c.id_number_digest == sealed.digest(c.id_number)
    assert len({c.id_number for c in people}) == len(people)
    assert Customer.select().where((Customer.customer_type == "企业") & Customer.id_number.is_null(False)).count() == 0
    accounts = list(Customer.select().where(Customer.bank_account.is_null(False)))
    assert 0 < len(accounts) < N
    for c in accounts:
        assert c.bank_account.isdigit() and 16 <= len(c.bank_account) <= 19
        assert raw[c.id][1] != c.bank_account and c.bank_account_digest == sealed.digest(c.bank_account)
    sample = people[len(people) // 2]
    assert Customer.get(Customer.id_number_digest == sealed.digest(sample.id_number)).id == sample.id


def test_id_number_check_digit():
    assert numbers.valid_id_number("11010519491231002X")
    assert not numbers.valid_id_number("110105194912310021")
    assert not numbers.valid_id_number("11010519491331002X")  # month 13


def test_search_index_finds_generated_names(counts):
    company = Customer.select().where(Customer.customer_type == "企业").order_by(Customer.id.desc()).first()
    fragment = company.name[2:6]
    found = {c.id for c in Customer.select(Customer.id).where(search.fragment_condition(["name"], fragment))}
    assert company.id in found
    assert all(fragment in c.name for c in Customer.select().where(Customer.id.in_(list(found))))
    person = Customer.select().where(Customer.customer_type == "个人").first()
    found = Customer.select(Customer.id).where(search.fragment_condition(["mobile"], person.mobile[3:9]))
    assert person.id in {c.id for c in found}
    # The index is maintained again after the bulk load.
    fresh = Customer.create(name="全新测试客户甲乙丙", mobile="13800000000", region="华北", industry="互联网")
    assert fresh.id in {c.id for c in Customer.select().where(search.fragment_condition(["name"], "甲乙丙"))}


def test_status_history_ends_at_the_status_and_agrees_with_orders(counts):
    changes = collections.defaultdict(list)
    for change in StatusChange.select().order_by(StatusChange.at, StatusChange.id):
        changes[change.customer_id].append(change)
    first_order = {}
    for o in Order.select().order_by(Order.ordered_at):
        first_order.setdefault(o.customer_id, o)
    statuses = collections.Counter()
    for c in Customer.select():
        history = changes[c.id]
        assert history, c.code
        assert history[0].from_status is None and history[0].to_status == "潜在客户"
        assert history[-1].to_status == c.status
        assert all(h.reason.strip() for h in history)
        for before, after in zip(history, history[1:], strict=False):
            assert after.from_status == before.to_status and after.at >= before.at
        statuses[c.status] += 1
        if c.id in first_order:
            assert c.status in ("成交客户", "流失客户")
            deal = next(h for h in history if h.to_status == "成交客户")
            assert deal.at == first_order[c.id].ordered_at
        else:
            assert c.status in ("潜在客户", "意向客户")
    assert set(statuses) == {s for s, _ in STATUSES}


def test_orders_fall_in_the_last_three_years(counts):
    today = REFERENCE_DAY
    start = seasons.years_before(today, 3)
    now = REFERENCE_NOW
    orders = list(Order.select(Order, Customer).join(Customer))
    assert len({o.order_no for o in orders}) == len(orders)
    for o in orders:
        assert start <= o.ordered_at.date() <= today and o.ordered_at <= now
        assert o.ordered_at.date() >= o.customer.first_contact
        assert o.amount > 0 and o.quantity >= 1 and o.product and o.channel
        assert re.fullmatch(r"SO\d{8}\d{5,}", o.order_no) and o.order_no[2:10] == o.ordered_at.strftime("%Y%m%d")
    per_customer = collections.Counter(o.customer_id for o in orders)
    assert max(per_customer.values()) >= 3 * (len(orders) / len(per_customer))  # heavy buyers exist
    per_day = len(orders) / (today - start).days
    singles_days = sum(1 for o in orders if (o.ordered_at.month, o.ordered_at.day) == (11, 11))
    assert singles_days > 2 * per_day * 3  # 双11 is busier than an average day, in each of three years


def test_follow_ups_are_numbered_per_day_and_belong_to_the_owner(counts):
    now = REFERENCE_NOW
    methods, results = {m for m, _ in FOLLOW_METHODS}, {r for r, _ in FOLLOW_RESULTS}
    follow_ups = list(FollowUp.select(FollowUp, Customer).join(Customer))
    assert len({f.record_no for f in follow_ups}) == len(follow_ups)
    for f in follow_ups:
        assert re.fullmatch(r"\d{11,}", f.record_no) and f.record_no[:8] == f.at.strftime("%Y%m%d")
        assert f.user_id == f.customer.owner_id
        assert f.method in methods and f.result in results and f.content
        assert f.at <= now and f.at.date() >= f.customer.first_contact
    day = follow_ups[0].at
    expected = f"{day:%Y%m%d}{sum(1 for f in follow_ups if f.at.date() == day.date()) + 1:03d}"
    assert FollowUp.create(customer=follow_ups[0].customer, at=day, method="电话", content="x").record_no == expected


def test_feedback_fields_follow_the_choices(counts):
    kinds, statuses = {k for k, _ in FEEDBACK_KINDS}, {s for s, _ in FEEDBACK_STATUSES}
    for f in Feedback.select():
        assert f.kind in kinds and f.status in statuses and f.content
        assert (1 <= f.score <= 5) if f.kind == "满意度" else f.score is None


def _snapshot():
    return (
        [(c.code, c.name, c.mobile, c.status, c.id_number, c.first_contact)
         for c in Customer.select().order_by(Customer.id)],
        [(o.order_no, o.amount, o.ordered_at) for o in Order.select().order_by(Order.id)],
        [(f.record_no, f.content) for f in FollowUp.select().order_by(FollowUp.id)],
    )


def test_same_seed_gives_the_same_data_and_reruns_replace_it(app):
    now = REFERENCE_NOW
    users_before = {u.username: u.id for u in User.select()}
    choices_before = Choice.select().count()
    first = demo.generate(customers=150, seed=5, password="first-pass-1", now=now)
    snapshot = _snapshot()
    second = demo.generate(customers=150, seed=5, password="second-pass-2", now=now)
    assert second == first
    assert _snapshot() == snapshot
    assert Customer.select().count() == 150 and Tag.select().count() == first["tag"]
    assert {u.username: u.id for u in User.select()} == users_before
    assert Choice.select().count() == choices_before
    assert User.get(User.username == "sales1").check_password("second-pass-2")
    demo.generate(customers=150, seed=6, password=PASSWORD, now=now)
    assert [c[1] for c in _snapshot()[0]] != [c[1] for c in snapshot[0]]


def test_worker_processes_build_the_same_slices(app, monkeypatch):
    context = builder.Context(
        seed=3, total=900, now=datetime.datetime(2026, 1, 10, 9, 0),
        regions=demo._choices("region", {}), industries=demo._choices("industry", {}),
        sources=[(n, 1) for n, _, _ in demo._choices("source", {})], owners=[(1, 1), (2, 1)],
        tag_ids={name: i for i, (name, _, _) in enumerate(demo.tags.CATALOGUE, 1)},
    )
    serial = list(workers.slices(context, 900, 200))
    monkeypatch.setattr(workers, "PARALLEL_FROM", 0)
    if workers.worker_count(900) == 0:
        pytest.skip("no fork on this platform")
    parallel = list(workers.slices(context, 900, 200))
    assert [bounds[:2] for bounds in parallel] == [(0, 200), (200, 400), (400, 600), (600, 800), (800, 900)]
    assert parallel == serial


def test_demo_command_loads_data_the_sales_rep_can_see(app, login):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run

    # `run.py demo` dates its data from today: let today be the reference day while it runs.
    with time_machine.travel(REFERENCE_NOW + datetime.timedelta(hours=9), tick=True):
        result = CliRunner().invoke(run.cli, ["demo", "--customers", "120", "--password", PASSWORD],
                                    obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "sales3" in result.output and PASSWORD in result.output
    with app.app_context():
        assert Customer.select().count() == 120
        mine = Customer.select().join(User).where(User.username == "sales1").order_by(Customer.id.desc()).first()
        theirs = Customer.select().join(User).where(User.username == "sales3").order_by(Customer.id.desc()).first()
    page = login("sales").get(f"/admin/customer/?search={mine.code}").get_data(as_text=True)
    assert mine.name in page
    page = login("sales").get(f"/admin/customer/?search={theirs.code}").get_data(as_text=True)
    assert theirs.name not in page


def test_demo_command_ends_the_history_on_the_day_given(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run

    result = CliRunner().invoke(run.cli, ["demo", "--customers", "60", "--password", PASSWORD, "--today", "2025-03-03"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "状态流转" in result.output
    with app.app_context():  # the seeded transitions, applied on that day: a second sweep changes nothing
        assert PipelineTransition.select().count() == len(pipeline.SEEDED)
        day = datetime.date(2025, 3, 3)
        assert not any(r.any for r in pipeline.sweep(as_of=day, today=day))
    with app.app_context():
        latest = Order.select(fn.MAX(Order.ordered_at)).scalar()
        again = demo.generate(customers=60, seed=7, password=PASSWORD, now=datetime.datetime(2025, 3, 3))
        assert Order.select(fn.MAX(Order.ordered_at)).scalar() == latest, "the same data as generate(now=that day)"
    assert latest < datetime.datetime(2025, 3, 4) and again["order"] > 0
    bad = CliRunner().invoke(run.cli, ["demo", "--today", "2025-02-30"], obj=ScriptInfo(create_app=lambda: app))
    assert bad.exit_code != 0 and "2025-02-30" in bad.output


def test_progress_is_reported_on_stderr(app, capsys):
    demo.generate(customers=30, seed=1, password=PASSWORD, progress=True, now=REFERENCE_NOW)
    err = capsys.readouterr().err
    assert "30/30 customers" in err
