"""The dashboard's roll-ups (dashboard.rollup, models.rollups) against the raw tables (dashboard.direct) on hand-made
data: every card of every period for every kind of viewer, on several days; customers who enter 潜在 again, skip
意向, change status after the day, have no owner, tie on order totals past the top 10; the freshness line, the first
view, the refresh job on a real worker, the command line and the audit row."""
import datetime
import json
import re

import pytest

import access
import dashboard
from dashboard import board as dashboard_board
from models import (AuditLog, CustomerTag, CustomerValue, DashboardRefresh, JobRun, Order, SalesDay, StatusChange, Tag, TopCustomer)

D = datetime.datetime
TODAY = datetime.date(2025, 6, 18)
VIEWERS = ("admin", "manager", "manager2", "sales1", "sales2", "sales3", "service")


def cards(result):
    return {card["key"]: card["data"] for card in result["cards"]}


@pytest.fixture
def world(app, make_customer, users):
    """30 customers: 12 each of sales1 and sales2 (equal order totals around the top-10 line), three of sales3, three
    without owner; status histories with re-entries to 潜在, a skipped 意向, a change after TODAY and the
    creation record present or missing; orders after TODAY; rule tags, one retired."""
    app.config["DASHBOARD_TODAY"] = TODAY
    c = {}
    for owner in ("sales1", "sales2"):
        for n in range(12):
            key = f"{owner}-{n}"
            c[key] = make_customer(owner=owner, name=f"{owner}客户{n}", status="成交客户",
                                   industry=("互联网", "制造业", None)[n % 3], created_at=D(2024, 11 + n % 2, 1 + n, 9))
            amount = "5000" if n < 6 else f"{1000 + 100 * n}"  # six equal totals per owner
            Order.create(customer=c[key], order_no=f"R{owner}{n:02d}", ordered_at=D(2025, 6, 1 + n, 10), amount=amount)
            Order.create(customer=c[key], order_no=f"R{owner}{n:02d}b", ordered_at=D(2025, 1 + n % 5, 3, 15),
                         amount="700.25")
    for n in range(3):
        c[f"sales3-{n}"] = make_customer(owner="sales3", name=f"丁{n}", status="意向客户", industry="金融",
                                         created_at=D(2025, 3, 10 + n))
        c[f"none-{n}"] = make_customer(owner=None, name=f"无主{n}", status="潜在客户", industry="教育",
                                       created_at=D(2025, 6, 2 + n, 8))
        Order.create(customer=c[f"none-{n}"], order_no=f"RN{n}", ordered_at=D(2025, 6, 10, 9), amount="99999")
    Order.create(customer=c["sales3-0"], order_no="RF1", ordered_at=D(2025, 6, 19, 1), amount="12345")  # after TODAY
    Order.create(customer=c["sales3-1"], order_no="RF2", ordered_at=D(2025, 7, 1, 9), amount="2222")
    history = [
        # sales1-0: 潜在 (creation recorded) → 意向 → back to 潜在 in April → 成交 in June
        ("sales1-0", None, "潜在客户", D(2024, 11, 1, 9)), ("sales1-0", "潜在客户", "意向客户", D(2024, 12, 5)),
        ("sales1-0", "意向客户", "潜在客户", D(2025, 4, 2)), ("sales1-0", "潜在客户", "成交客户", D(2025, 6, 3)),
        # sales1-1: no creation record (entered its first from-status at created_at), skips 意向
        ("sales1-1", "潜在客户", "成交客户", D(2025, 1, 20)),
        # sales2-0: 潜在 twice in one month, then 成交 after TODAY (流失 at the end of TODAY? no: 意向)
        ("sales2-0", "潜在客户", "意向客户", D(2025, 5, 2)), ("sales2-0", "意向客户", "潜在客户", D(2025, 5, 20)),
        ("sales2-0", "潜在客户", "意向客户", D(2025, 6, 1)), ("sales2-0", "意向客户", "成交客户", D(2025, 6, 25)),
        # sales2-1: lost, then back to 潜在 after TODAY (流失 at the end of TODAY)
        ("sales2-1", "潜在客户", "成交客户", D(2025, 2, 1)), ("sales2-1", "成交客户", "流失客户", D(2025, 5, 1)),
        ("sales2-1", "流失客户", "潜在客户", D(2025, 7, 3)),
        ("sales3-0", "潜在客户", "意向客户", D(2025, 3, 20)), ("sales3-1", None, "意向客户", D(2025, 3, 11)),
        ("none-0", "潜在客户", "意向客户", D(2025, 6, 9)),
    ]
    for key, before, after, at in history:
        StatusChange.create(customer=c[key], from_status=before, to_status=after, reason="测试", at=at)
    high = Tag.create(name="高价值", category="价值", source="rule")
    churn = Tag.create(name="流失风险", category="行为", source="rule")
    old = Tag.create(name="旧规则", category="行为", source="rule", retired_at=D(2025, 1, 1))
    manual = Tag.create(name="价格敏感", category="偏好", source="manual")
    for key, tag in (("sales1-0", high), ("sales2-3", high), ("none-1", high), ("sales3-2", churn),
                     ("sales1-4", manual), ("sales2-5", old)):
        CustomerTag.create(customer=c[key], tag=tag, source=tag.source)
    # the value table as valuation.refresh writes it: ties on LTV past the top 10, no LTV, ownerless rows
    for n, key in enumerate(sorted(c)):
        ltv = None if n % 7 == 3 else ("20000" if n % 3 == 0 else str(5000 + 250 * n))
        CustomerValue.create(customer=c[key], tier=("高价值客户", "潜力客户", "普通客户", "低价值客户")[n % 4], ltv=ltv,
                             annual_spend=str(1000 + 37 * (n % 5)), orders_12m=n % 4, as_of=TODAY,
                             last_order_at=D(2025, 6, 1 + n % 10), refreshed_at=D(2025, 6, 18, 3))
    return c


def both(users, username, today, period):
    user = users[username]
    grant = access.grant_for(user)
    return (cards(dashboard.build(user, grant, today, period)),
            cards(dashboard.build(user, grant, today, period, sources=dashboard.DIRECT)))


@pytest.mark.parametrize("today", [TODAY, datetime.date(2025, 7, 1), datetime.date(2025, 6, 30)])
def test_the_rollups_give_the_raw_tables_figures(world, users, today):
    dashboard.refresh(today, trigger="test")
    for username in VIEWERS:
        for period in dashboard.PERIODS:
            rolled, direct = both(users, username, today, period)
            assert rolled == direct, (username, period, today)


def test_hand_computed_figures(world, users):
    """A few of the numbers above worked out by hand, so the comparison is not of two equal mistakes."""
    dashboard.refresh(TODAY, trigger="test")
    admin = cards(dashboard.build(users["admin"], access.grant_for(users["admin"]), TODAY, "3m"))  # from 2025-04-01
    # top of June: the three ownerless 99,999 first, then seven of sales1/sales2's twelve equal 5,000 by customer id
    june = cards(dashboard.build(users["admin"], access.grant_for(users["admin"]), TODAY, "month"))
    top = june["top_customers"]["rows"]
    assert [r["cells"][2] for r in top] == ["¥99,999.00"] * 3 + ["¥5,000.00"] * 7
    fives = sorted(world[f"{owner}-{n}"].id for owner in ("sales1", "sales2") for n in range(6))
    assert [r["id"] for r in top[3:]] == fives[:7]
    # funnel 3m: cohort = first 潜在 entry from April: sales1-0 (April, reached 成交 in June), sales2-0 (May 20 re-entry
    # after entry... its creation was in December, so May 20 is its first in the period; 意向 in June, 成交 after TODAY),
    # the three ownerless (created in June; none-0 reached 意向)
    assert admin["funnel"]["items"] == [{"name": "潜在客户", "value": 5}, {"name": "意向客户", "value": 3},
                                        {"name": "成交客户", "value": 1}]
    assert admin["funnel"]["lost"] == 1  # sales2-1: 流失 at the end of TODAY, 潜在 only after it
    rep = cards(dashboard.build(users["sales3"], access.grant_for(users["sales3"]), TODAY, "month"))
    assert rep["sales_total"]["value"] == 0 and rep["top_customers"]["empty"]  # RF1 is dated after TODAY
    assert [(i["name"], i["value"]) for i in rep["customers_by_status"]["items"]][:2] == [("潜在客户", 0), ("意向客户", 3)]
    # the ownerless customers count only for the "all" scope
    manager = cards(dashboard.build(users["manager"], access.grant_for(users["manager"]), TODAY, "month"))
    assert all(r["cells"][2] != "¥99,999.00" for r in manager["top_customers"]["rows"])
    assert dict(zip(manager["rule_tags"]["labels"], manager["rule_tags"]["values"])) == {"高价值": 2, "流失风险": 0}


def test_figures_are_those_of_the_last_refresh(world, users, make_customer):
    """A change after the refresh shows after the next one; the page says when the figures were computed."""
    dashboard.refresh(TODAY, trigger="test", now=D(2025, 6, 18, 4, 0))
    grant = access.grant_for(users["sales1"])
    before = cards(dashboard.build(users["sales1"], grant, TODAY, "month"))
    Order.create(customer=world["sales1-7"], order_no="LATE", ordered_at=D(2025, 6, 18, 12), amount="100000")
    assert cards(dashboard.build(users["sales1"], grant, TODAY, "month"))["sales_total"] == before["sales_total"]
    dashboard.refresh(TODAY, trigger="test", now=D(2025, 6, 18, 13, 0))
    after = cards(dashboard.build(users["sales1"], grant, TODAY, "month"))
    assert after["sales_total"]["value"] == before["sales_total"]["value"] + 100000
    assert after["top_customers"]["rows"][0]["id"] == world["sales1-7"].id
    board = dashboard.build(users["sales1"], grant, TODAY, "month")
    assert board["freshness"]["text"] == "数据更新于 2025-06-18 13:00（统计至 2025-06-18）"
    assert not board["freshness"]["stale"]
    later = dashboard.build(users["sales1"], grant, datetime.date(2025, 6, 21), "month")
    assert later["freshness"]["stale"] and "已超过一天未更新" in later["freshness"]["text"]
    audit = AuditLog.select().where((AuditLog.action == "refresh") & (AuditLog.model == "dashboard")).order_by(AuditLog.id)
    assert audit.count() == 2 and json.loads(audit[-1].changes)["as_of"] == "2025-06-18"


def test_the_day_after_the_refresh_finds_its_periods(world, users):
    """Refreshed on the 30th, viewed on the 1st before the night's refresh: the new month's periods are there."""
    dashboard.refresh(datetime.date(2025, 6, 30), trigger="test")
    july = datetime.date(2025, 7, 1)
    starts = {s for (s,) in TopCustomer.select(TopCustomer.start).distinct().tuples()}
    # 3m and 12m start a month later on the 1st (本月's July has no order up to the 30th yet: no rows)
    assert {dashboard.period(key, july).start for key in ("3m", "12m")} <= starts
    assert datetime.date(2025, 5, 1) in starts and datetime.date(2025, 5, 1) != dashboard.period("3m", july.replace(day=30, month=6)).start
    grant = access.grant_for(users["admin"])
    rolled = cards(dashboard.build(users["admin"], grant, july, "3m"))
    direct = cards(dashboard.build(users["admin"], grant, july, "3m", sources=dashboard.DIRECT))
    # the order dated 1 July (RF2) was not yet in the refresh of the 30th's top customers; everything else agrees
    assert [r["id"] for r in rolled["top_customers"]["rows"]] == [r["id"] for r in direct["top_customers"]["rows"]]
    assert rolled["sales_total"] == direct["sales_total"] and rolled["funnel"] == direct["funnel"]


def _blob(response):
    html = response.get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)), html


def test_first_view_computes_a_small_database(world, login):
    assert DashboardRefresh.select().count() == 0
    blob, html = _blob(login("admin").get("/admin/"))
    refresh = DashboardRefresh.get()
    assert refresh.trigger == "first-view" and refresh.as_of == TODAY
    assert 'id="dashboard-freshness"' in html and "数据更新于" in html and "统计至 2025-06-18" in html
    assert cards(blob)["sales_total"]["orders"] > 0
    login("admin").get("/admin/")
    assert DashboardRefresh.select().count() == 1


def test_first_view_of_a_large_database_queues_the_job_once(world, login, monkeypatch, worker):
    import jobs
    from tests.test_subscriptions_support import wait_for

    jobs.discover()
    monkeypatch.setattr(dashboard_board, "FIRST_VIEW_LIMIT", 5)
    client = login("manager")
    blob, html = _blob(client.get("/admin/"))
    assert "首页数据尚未计算：已加入后台任务" in html and blob["freshness"]["missing"]
    assert cards(blob)["sales_total"]["value"] == 0  # nothing is made up meanwhile
    runs = JobRun.select().where(JobRun.job == "dashboard-refresh")
    assert runs.count() == 1
    wait_for(lambda: JobRun.get_by_id(runs[0].id).status in ("success", "failed"), "the dashboard-refresh job")
    assert JobRun.get_by_id(runs[0].id).status == "success", JobRun.get_by_id(runs[0].id).error
    blob, html = _blob(client.get("/admin/"))
    assert "数据更新于" in html and cards(blob)["sales_total"]["value"] > 0
    assert runs.count() == 1


def test_the_daily_job_follows_the_sweeps():
    import jobs

    jobs.discover()
    job = jobs.get("dashboard-refresh")
    hour = lambda name: tuple(int(x) for x in reversed(jobs.get(name).schedule.split()[:2]))  # noqa: E731
    assert job.enabled and job.schedule == "0 4 * * *"
    assert all(hour(name) < hour("dashboard-refresh") for name in ("value-refresh", "pipeline", "tag-rules"))


def test_cli(app, world):
    from run import cli

    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["refresh-dashboard", "--as-of", "2025-06-18"])
    assert result.exit_code == 0, result.output
    assert "首页数据已刷新：统计至 2025-06-18" in result.output and "sales_day" in result.output
    assert DashboardRefresh.get().trigger == "cli" and SalesDay.select().count() > 0
    for bad, message in (("2025-13-01", "应为 YYYY-MM-DD"), ("2999-01-01", "不能晚于今天")):
        refused = runner.invoke(cli, ["refresh-dashboard", "--as-of", bad])
        assert refused.exit_code != 0 and message in refused.output
    assert DashboardRefresh.select().count() == 1


def test_an_import_and_its_undo_queue_a_refresh(app, tmp_path, users, queue_inline):
    """After an import (and after its undo) the worker refreshes the roll-ups: with the queue inline, at once."""
    import intake

    path = tmp_path / "客户.csv"
    path.write_bytes("客户名称,手机号码,负责人\n导入甲,13812345678,sales1\n导入乙,13812345679,sales2\n".encode())
    report = intake.import_file(str(path), "customers", user=users["admin"])
    assert report.written
    runs = JobRun.select().where(JobRun.job == "dashboard-refresh").order_by(JobRun.id)
    assert [(r.status, r.username) for r in runs] == [("success", "admin")]
    assert sum(n for _s, _i, n in dashboard.DIRECT["customers"](dashboard.context(None, None, TODAY)).mix) == 2
    mix = dashboard.SOURCES["customers"](dashboard.context(None, None, TODAY))
    assert sum(n for _s, _i, n in mix.mix) == 2
    intake.undo(report.batch_id, user=users["admin"])
    assert runs.count() == 2 and runs[-1].status == "success"
    assert dashboard.SOURCES["customers"](dashboard.context(None, None, TODAY)).mix == []


def test_two_refreshes_at_once_leave_one_set_of_figures(app, world, users):
    """Two workers refreshing together (the night's job and an import's): each swaps in turn, nothing doubles."""
    import threading

    from models import db

    errors = []

    def refresh():
        try:
            with db.connection_context():
                dashboard.refresh(TODAY, trigger="test")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and DashboardRefresh.select().count() == 2
    rolled, direct = both(users, "admin", TODAY, "12m")
    assert rolled == direct
