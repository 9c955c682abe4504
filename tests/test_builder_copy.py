"""The report builder's shared copy (analytics.copies, the job builder-copy): built by the job, it gives the same
numbers as live data in the same scope, says as of when, is not used past its maximum age, is written by one build
when two run at once, and the screen's 刷新数据 queues one build.  Both databases; fixed dates; the size rule forced
to 0 (CRM_BUILDER_COPY_MIN_ORDERS), the copies in the module's own folder."""
import datetime
import os
import stat
import threading

import duckdb
import pytest

import access
import jobs
import models
import reportbuilder
from analytics import copies
from models import Customer, CustomerTag, CustomerValue, JobRun, Order, Tag, User
from reportbuilder.spec import parse
from reportbuilder.tasks import JOB
from tests.conftest import build_app

TODAY = datetime.date(2026, 6, 30)
TAKEN = datetime.datetime(2026, 6, 30, 17, 50)
LAST_12 = {"preset": "last_12_months"}
SPECS = [  # every dimension and measure, filters, a top-N list
    {"rows": ["industry"], "measures": ["customers", "orders", "revenue", "aov", "repeat_rate"], "period": LAST_12},
    {"rows": ["order_month"], "measures": ["customers", "orders", "revenue"], "period": LAST_12},
    {"rows": ["order_quarter", "region"], "measures": ["revenue"], "period": {"preset": "all"}},
    {"rows": ["tier"], "measures": ["customers", "ltv"], "period": LAST_12},
    {"rows": ["tag"], "measures": ["customers", "revenue"], "period": LAST_12, "filters": {"region": ["华东"]}},
    {"rows": ["owner", "status"], "measures": ["customers", "orders"], "period": LAST_12},
    {"rows": ["source"], "measures": ["customers"], "period": LAST_12, "filters": {"tag": ["高价值"]}},
    {"rows": ["first_contact_quarter"], "measures": ["customers"], "period": {"preset": "all"}},
    {"rows": ["customer"], "measures": ["revenue", "orders", "ltv"], "period": LAST_12, "limit": 10,
     "filters": {"tier": ["高价值客户", "普通客户"]}},
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Three customers: A (sales1, 互联网 华北, 3 orders 600 in the period, 高价值客户 LTV 5,000, tag 高价值),
    B (sales1, 制造 华东, 1 order 50.50, 普通客户 LTV 1,000), C (sales2, 互联网 华东, 400 in the period and 1,000
    before it, tag 高价值, no value row)."""
    folder = tmp_path_factory.mktemp("builder-copy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_BUILDER_COPY_MIN_ORDERS", "0")
        patch.setenv("CRM_BUILDER_COPY_DIR", str(folder / "analytics"))
        application = build_app(folder)
        application.config["REPORT_BUILDER_TODAY"] = TODAY
        application.config["REPORT_BUILDER_NOW"] = TAKEN + datetime.timedelta(minutes=5)
        with application.app_context():
            users = {u.username: u for u in User.select()}
            made = {}
            for code, owner, industry, region, source, first in (
                    ("A", "sales1", "互联网", "华北", "网络推广", datetime.date(2025, 8, 10)),
                    ("B", "sales1", "制造", "华东", "", datetime.date(2026, 2, 1)),
                    ("C", "sales2", "互联网", "华东", None, None)):
                made[code] = Customer.create(code=code, name=f"客户{code}", owner=users[owner], industry=industry,
                                             region=region, source=source, first_contact=first, mobile="13800138000",
                                             status="成交客户")
            for number, (code, at, amount) in enumerate([
                    ("A", "2026-01-10 09:00", "100.00"), ("A", "2026-01-20 10:00", "200.00"),
                    ("A", "2026-03-05 11:00", "300.00"), ("B", "2026-03-07 12:00", "50.50"),
                    ("C", "2025-05-01 08:00", "1000.00"), ("C", "2026-06-30 23:00", "400.00")]):
                Order.create(customer=made[code], order_no=f"BC{number:04d}",
                             ordered_at=datetime.datetime.fromisoformat(at), amount=amount)
            stamp = datetime.datetime(2026, 6, 30, 3, 0)
            CustomerValue.create(customer=made["A"], annual_spend=600, orders_12m=3, ltv=5000, tier="高价值客户",
                                 as_of=TODAY, refreshed_at=stamp)
            CustomerValue.create(customer=made["B"], annual_spend=50.5, orders_12m=1, ltv=1000, tier="普通客户",
                                 as_of=TODAY, refreshed_at=stamp)
            high = Tag.create(name="高价值", category="价值", source="rule")
            for code in ("A", "C"):
                CustomerTag.create(customer=made[code], tag=high)
        models.db.close()
        yield application
    models.db.close()


@pytest.fixture
def ctx(app):
    with app.app_context():
        copies.discard()  # each test starts without copies
        yield


def run(spec_data, username="admin", shared_copy=True, now=TAKEN + datetime.timedelta(minutes=5)):
    user = User.get(User.username == username)
    grant = access.grant_for(user)
    spec = parse(spec_data, grant, TODAY)
    return reportbuilder.run(spec, access.owner_ids(user, grant), shared_copy=shared_copy, now=now)


def folder():
    return copies.rules().folder


def test_the_job_builds_a_copy_whose_results_equal_live(ctx):
    ran = jobs.execute(JOB)  # the job as a worker runs it (its own clock)
    assert ran.status == "success", ran.error
    built = copies.newest(datetime.datetime.now())
    assert built is not None and os.path.basename(built.path).startswith("builder-")
    assert stat.S_IMODE(os.stat(built.path).st_mode) == 0o600
    with duckdb.connect(built.path, read_only=True, config={  # as the builder's reader opens it
            "autoinstall_known_extensions": False, "autoload_known_extensions": False}) as connection:
        columns = {table: {c for (c,) in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
            for (table,) in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert columns["customer"] == {"id", "code", "name", "owner_id", "industry", "region", "status", "source",
                                   "first_contact"}  # no mobile, no contact, nothing sealed
    assert columns["copy_info"] == {"taken_at", "source", "orders_estimate", "seconds"}
    # a copy at a fixed moment: every spec gives live's rows, and says as of when
    copies.discard()
    built = copies.build(now=TAKEN)
    assert built.taken_at == TAKEN
    for spec in SPECS:
        for username in ("admin", "sales1"):
            live = run(spec, username, shared_copy=False)
            copied = run(spec, username)
            assert copied.as_of == TAKEN and copied.note == "数据截至 2026-06-30 17:50（每15分钟更新）"
            assert live.as_of is None and live.note == ""
            assert copied.rows == live.rows, spec
            assert copied.as_dict()["note"] == copied.note and copied.as_dict()["as_of"] == "2026-06-30T17:50:00"


def test_a_reps_result_from_the_copy_is_only_their_customers(ctx):
    copies.build(now=TAKEN)
    result = run({"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12}, "sales1")
    assert result.as_of == TAKEN
    assert result.rows == [("互联网", 1, 600.0), ("制造", 1, 50.5)]  # A and B; C is sales2's
    listed = run(SPECS[-1], "sales1")
    assert [row[0] for row in listed.rows] == ["A 客户A", "B 客户B"]


def test_a_customer_reassigned_after_the_copy_leaves_the_old_owners_report_at_once(ctx):
    """The copy's figures are as old as the copy, but whose customers they are is decided now: a rep never sees a
    customer taken from them, even for the minutes until the next build."""
    copies.build(now=TAKEN)
    spec = {"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12}
    b = Customer.get(Customer.code == "B")
    Customer.update(owner=User.get(User.username == "sales2")).where(Customer.id == b.id).execute()
    try:
        old_owner, new_owner = run(spec, "sales1"), run(spec, "sales2")
        assert old_owner.as_of == new_owner.as_of == TAKEN  # still read from the copy
        assert old_owner.rows == [("互联网", 1, 600.0)]  # A only: B is sales2's now
        assert new_owner.rows == [("互联网", 1, 400.0), ("制造", 1, 50.5)]  # C, and B with the copy's figures
        assert [row[0] for row in run(SPECS[-1], "sales1").rows] == ["A 客户A"]
        assert run(spec).rows == run(spec, shared_copy=False).rows  # everyone's scope: unchanged
    finally:
        Customer.update(owner=User.get(User.username == "sales1")).where(Customer.id == b.id).execute()


def test_a_change_is_seen_after_the_next_build_only(ctx):
    copies.build(now=TAKEN)
    spec = {"rows": ["industry"], "measures": ["orders", "revenue"], "period": LAST_12}
    before = run(spec)
    extra = Order.create(customer=Customer.get(Customer.code == "B"), order_no="BC-LATE",
                         ordered_at=datetime.datetime(2026, 6, 1, 9, 0), amount="9.50")
    try:
        stale = run(spec)
        assert stale.rows == before.rows and stale.as_of == TAKEN  # the copy, as of its moment
        assert dict((r[0], r[1:]) for r in run(spec, shared_copy=False).rows)["制造"] == (2, 60.0)
        later = TAKEN + datetime.timedelta(minutes=15)
        copies.build(now=later)
        fresh = run(spec, now=later + datetime.timedelta(minutes=1))
        assert fresh.as_of == later and dict((r[0], r[1:]) for r in fresh.rows)["制造"] == (2, 60.0)
    finally:
        extra.delete_instance()


def test_an_over_age_copy_is_not_used_and_a_build_is_queued(ctx):
    copies.build(now=TAKEN)
    JobRun.delete().where(JobRun.job == JOB).execute()
    spec = {"rows": ["region"], "measures": ["customers"], "period": LAST_12}
    assert run(spec, now=TAKEN + datetime.timedelta(minutes=60)).as_of == TAKEN  # at the limit: still used
    late = TAKEN + datetime.timedelta(minutes=61)
    assert copies.newest(late) is None
    result = run(spec, now=late)
    assert result.as_of is None and result.note == ""  # live
    assert result.rows == run(spec, shared_copy=False).rows
    run(spec, now=late)  # asked again: still one build queued
    assert [r.status for r in JobRun.select().where(JobRun.job == JOB)] == ["queued"]
    JobRun.delete().where(JobRun.job == JOB).execute()


def test_two_builds_at_once_leave_one_good_file(ctx):
    moment = TAKEN + datetime.timedelta(hours=1)
    outcomes, errors = [], []

    def build():
        try:
            with models.db.connection_context():
                outcomes.append(copies.build(now=moment))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(o is None for o in outcomes) == [False, True]  # one built, the other found it done
    mine = [p for p in os.listdir(folder()) if moment.strftime("%Y%m%dT%H%M%S") in p]
    assert len(mine) == 1 and mine[0].endswith(".duckdb") and not mine[0].startswith(".part-")
    newest = copies.newest(moment + datetime.timedelta(minutes=1))
    assert newest.taken_at == moment
    spec = SPECS[0]
    assert run(spec, now=moment).rows == run(spec, shared_copy=False).rows


def test_below_the_size_rule_no_copy_is_built_and_live_is_read(ctx, monkeypatch):
    copies.build(now=TAKEN)
    monkeypatch.setenv("CRM_BUILDER_COPY_MIN_ORDERS", "1000")
    assert copies.build(now=TAKEN + datetime.timedelta(minutes=30)) is None
    assert not [p for p in os.listdir(folder()) if p.endswith(".duckdb")]
    result = run(SPECS[0], now=TAKEN + datetime.timedelta(minutes=31))
    assert result.as_of is None
    assert not JobRun.select().where(JobRun.job == JOB).exists()  # nothing queued for a small database


def test_bad_rules_are_refused_in_chinese(monkeypatch):
    monkeypatch.setenv("CRM_BUILDER_COPY_EVERY_MINUTES", "7")
    with pytest.raises(copies.RulesError, match="整除 60"):
        copies.rules()
    monkeypatch.setenv("CRM_BUILDER_COPY_EVERY_MINUTES", "120")
    assert copies.rules().schedule == "0 */2 * * *" and copies.rules().every_label == "每2小时"


def test_the_screen_says_as_of_when_and_refresh_queues_one_build(app, login):
    with app.app_context():
        copies.discard()
        copies.build(now=TAKEN)
        JobRun.delete().where(JobRun.job == JOB).execute()
    client = login("manager")
    url = "/admin/reportbuilder/?run=1&row1=industry&measures=customers&measures=revenue&period=last_12_months"
    page = client.get(url).get_data(as_text=True)
    assert "数据截至 2026-06-30 17:50（每15分钟更新）" in page and "刷新数据" in page
    posted = {"row1": "industry", "measures": ["customers", "revenue"], "period": "last_12_months"}
    refused = client.post("/admin/reportbuilder/refresh", data=posted)  # no CSRF token: nothing queued
    assert refused.status_code == 302
    with app.app_context():
        assert not JobRun.select().where(JobRun.job == JOB).exists()
    answer = client.submit("/admin/reportbuilder/refresh", posted, form_url=url, follow_redirects=True)
    assert "已请求刷新数据" in answer.get_data(as_text=True)
    again = client.submit("/admin/reportbuilder/refresh", posted, form_url=url, follow_redirects=True)
    assert "数据刷新已在排队" in again.get_data(as_text=True)
    with app.app_context():
        queued = list(JobRun.select().where(JobRun.job == JOB))
        assert [(r.status, r.trigger, r.username) for r in queued] == [("queued", "manual", "manager")]
        JobRun.delete().where(JobRun.job == JOB).execute()
    # past the maximum age the screen reads live data and says nothing about a copy
    app.config["REPORT_BUILDER_NOW"] = TAKEN + datetime.timedelta(hours=2)
    try:
        page = client.get(url).get_data(as_text=True)
    finally:
        app.config["REPORT_BUILDER_NOW"] = TAKEN + datetime.timedelta(minutes=5)
    assert "数据截至" not in page and "刷新数据" not in page and "¥1,000.00" in page


def test_a_copy_that_cannot_be_read_gives_way_to_live_data(ctx, monkeypatch):
    copies.build(now=TAKEN)
    spec = SPECS[0]
    assert run(spec).as_of == TAKEN

    def gone(path, query):  # as when the file was removed or damaged under the reader
        raise duckdb.IOException(f"Cannot open file {path}")

    monkeypatch.setattr(copies, "_fetch", gone)
    result = run(spec)
    assert result.as_of is None and result.note == ""
    assert result.rows == run(spec, shared_copy=False).rows


def _count_in_child(answers):
    """In a forked child: the copy's orders, read on the child's own connection (analytics.copies._reader)."""
    from peewee import fn

    copy = copies.newest(TAKEN + datetime.timedelta(minutes=5))
    frame = copy.engine.fetch(Order.select(fn.COUNT(Order.customer).alias("n"), fn.SUM(Order.amount).alias("s")))
    answers.put((os.getpid(), int(frame["n"][0]), float(frame["s"][0]), copies._readers[copy.path][0]))


def test_a_forked_child_reads_the_copy_on_its_own_connection(ctx):
    import multiprocessing

    copies.build(now=TAKEN)
    assert run(SPECS[0]).as_of == TAKEN  # the parent holds a connection to the file
    fork = multiprocessing.get_context("fork")
    answers = fork.Queue()
    child = fork.Process(target=_count_in_child, args=(answers,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    pid, orders, amount, reader_pid = answers.get(timeout=5)
    assert pid != os.getpid() and reader_pid == pid  # the child opened its own
    assert (orders, amount) == (6, 2050.5)


def test_an_erased_customers_name_leaves_the_copies_at_once(ctx):
    """Last in the module: it anonymises a customer of its own for good."""
    import privacy

    copies.build(now=TAKEN)
    admin = User.get(User.username == "admin")
    erased = Customer.create(code="E", name="客户E", owner=User.get(User.username == "sales1"), status="潜在客户",
                             mobile="13900139000")
    later = TAKEN + datetime.timedelta(minutes=10)
    copies.build(now=later)  # a copy holding 客户E
    spec = {"rows": ["customer"], "measures": ["customers"], "period": {"preset": "all"}}
    assert "E 客户E" in [row[0] for row in run(spec, now=later).rows]
    privacy.erase("E", user=admin, confirm="E")
    assert not [p for p in os.listdir(folder()) if p.endswith(".duckdb")]
    result = run(spec, now=later)
    assert result.as_of is None  # live until the next build
    labels = [row[0] for row in result.rows]
    assert "E 客户E" not in labels and f"E {Customer.get_by_id(erased.id).name}" in labels
