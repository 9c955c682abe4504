"""The dashboard (首页): every card's numbers against hand-computed data on a fixed day, per role (rep own,
manager team, admin all, service without money cards because the policy hides order amounts and value
money columns from it), the period selector, bad input, and that a page costs one batch of statements per
source however many cards, over the roll-ups (dashboard.rollup) and never the raw orders.  The roll-up path
against the raw tables on more data: tests/test_dashboard_rollups.py."""
import datetime
import json
import logging
import re
from contextlib import contextmanager

import pytest

import access
import dashboard
import reminders
from dashboard.sources import STATEMENTS
from models import ColumnRule, CustomerTag, CustomerValue, FollowUp, Order, Role, StatusChange, Tag

TODAY = datetime.date(2025, 6, 18)
D = datetime.datetime
MONEY_CARDS = {"sales_total", "sales_trend", "top_customers"}


@pytest.fixture
def world(app, make_customer, users):
    """Five customers of three reps in two teams (manager: sales1, sales2; manager2: sales3)."""
    app.config["DASHBOARD_TODAY"] = TODAY
    c = {
        "A": make_customer(owner="sales1", name="甲公司", status="成交客户", industry="互联网", created_at=D(2025, 6, 3, 9)),
        "B": make_customer(owner="sales1", name="乙公司", status="意向客户", industry="制造业", created_at=D(2025, 2, 10)),
        "C": make_customer(owner="sales2", name="丙公司", status="潜在客户", industry="互联网", created_at=D(2024, 3, 1)),
        "D": make_customer(owner="sales3", name="丁公司", status="成交客户", industry="金融", created_at=D(2025, 6, 10)),
        "E": make_customer(owner="sales3", name="戊公司", status="流失客户", industry=None, created_at=D(2024, 8, 15)),
    }
    orders = [("A", D(2025, 6, 5, 10), "12000.50"), ("A", D(2025, 5, 20), "3000"), ("A", D(2024, 6, 30, 23, 59), "99999"),
              ("B", D(2025, 1, 15), "8000"), ("C", D(2024, 7, 1), "1000"), ("D", D(2025, 6, 18, 23, 30), "50000"),
              ("D", D(2025, 6, 19), "7777"), ("E", D(2024, 9, 9), "2500")]
    for n, (key, at, amount) in enumerate(orders):
        Order.create(customer=c[key], order_no=f"DASH{n:03d}", ordered_at=at, amount=amount)
    follow_ups = [("A", D(2025, 6, 1), datetime.date(2025, 6, 10)),  # answered by the next one
                  ("A", D(2025, 6, 12), datetime.date(2025, 6, 15)),  # overdue
                  ("B", D(2025, 6, 16), datetime.date(2025, 6, 18)),  # due today
                  ("C", D(2025, 5, 1), datetime.date(2025, 5, 5)),  # answered
                  ("C", D(2025, 6, 17), datetime.date(2025, 6, 22)),  # within 7 days
                  ("D", D(2025, 6, 1), datetime.date(2025, 7, 30)),  # later than 7 days
                  ("E", D(2025, 5, 1), datetime.date(2025, 5, 10))]  # overdue
    made = [FollowUp.create(customer=c[key], at=at, method="电话", content="回访", next_date=next_date,
                            user=users[c[key].owner.username]).id for key, at, next_date in follow_ups]
    reminders.after_followups(made, now=D(2025, 6, 18, 8))  # the tasks the admin's save would have planned
    history = [("A", None, "潜在客户", D(2025, 6, 3, 9)), ("A", "潜在客户", "意向客户", D(2025, 6, 4)),
               ("A", "意向客户", "成交客户", D(2025, 6, 5, 10)),
               ("B", None, "潜在客户", D(2025, 2, 10)), ("B", "潜在客户", "意向客户", D(2025, 3, 1)),
               ("C", None, "潜在客户", D(2024, 3, 1)),
               ("D", None, "潜在客户", D(2025, 6, 10)), ("D", "潜在客户", "成交客户", D(2025, 6, 18, 10)),
               ("E", None, "潜在客户", D(2024, 8, 15)), ("E", "潜在客户", "成交客户", D(2024, 9, 9)),
               ("E", "成交客户", "流失客户", D(2025, 3, 1))]
    for key, before, after, at in history:
        StatusChange.create(customer=c[key], from_status=before, to_status=after, reason="测试", at=at)
    values = [("A", "高价值客户", "30000", "15000.50", 2), ("D", "高价值客户", "80000", "50000", 1),
              ("B", "普通客户", None, "8000", 1), ("E", "低价值客户", "5000", "2500", 1)]
    for key, tier, ltv, spend, orders_12m in values:
        CustomerValue.create(customer=c[key], tier=tier, ltv=ltv, annual_spend=spend, orders_12m=orders_12m,
                             as_of=TODAY, refreshed_at=D(2025, 6, 18, 3))
    high = Tag.create(name="高价值", category="价值", source="rule")
    churn = Tag.create(name="流失风险", category="行为", source="rule")
    Tag.create(name="近30天下单", category="行为", source="rule")
    old = Tag.create(name="旧规则", category="行为", source="rule", retired_at=D(2025, 1, 1))
    manual = Tag.create(name="价格敏感", category="偏好", source="manual")
    for key, tag, source in (("A", high, "rule"), ("D", high, "rule"), ("E", churn, "rule"), ("A", manual, "manual"),
                             ("B", old, "rule")):
        CustomerTag.create(customer=c[key], tag=tag, source=source)
    dashboard.refresh(TODAY, trigger="test", now=D(2025, 6, 18, 4))  # the daily job's roll-ups
    return c


def board(users, username, period="12m", today=TODAY):
    user = users[username]
    return dashboard.build(user, access.grant_for(user), today, period)


def cards(result):
    return {card["key"]: card["data"] for card in result["cards"]}


def test_admin_sees_everyone_numbers(world, users):
    data = cards(board(users, "admin"))
    assert set(data) == set(dashboard.CARDS)
    assert data["new_customers"]["value"] == 4 and data["new_customers"]["month"] == 2  # A, B, D, E; A, D
    assert data["new_customers"]["display"] == "4" and "其中本月 2 位" in data["new_customers"]["note"]
    assert data["sales_total"]["value"] == 76500.50 and data["sales_total"]["orders"] == 6
    assert data["sales_total"]["display"] == "¥76,500.50"
    trend = data["sales_trend"]
    assert trend["labels"] == [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
    totals, counts = (dict(zip(trend["labels"], s["values"])) for s in trend["series"])
    assert {k: v for k, v in totals.items() if v} == {"2024-07": 1000, "2024-09": 2500, "2025-01": 8000,
                                                     "2025-05": 3000, "2025-06": 62000.50}
    assert sum(counts.values()) == 6 and counts["2025-06"] == 2
    assert [(i["name"], i["value"]) for i in data["customers_by_status"]["items"]] == [
        ("潜在客户", 1), ("意向客户", 1), ("成交客户", 2), ("流失客户", 1)]
    # the period's cohort: A, B, D, E entered 潜在 in it; D skipped 意向 (reaching 成交 counts); C is older
    assert [(i["name"], i["value"]) for i in data["funnel"]["items"]] == [("潜在客户", 4), ("意向客户", 4), ("成交客户", 3)]
    assert data["funnel"]["lost"] == 1 and data["funnel"]["rate"] == 0.75 and "75.0%" in data["funnel"]["note"]
    assert [(i["name"], i["value"]) for i in data["industry_mix"]["items"]] == [
        ("互联网", 2), ("制造业", 1), ("未填写", 1), ("金融", 1)]
    assert [(i["key"], i["value"]) for i in data["tasks_due"]["items"]] == [("overdue", 2), ("today", 1),
                                                                           ("upcoming", 1)]
    assert list(zip(data["rule_tags"]["labels"], data["rule_tags"]["values"])) == [
        ("高价值", 2), ("流失风险", 1), ("近30天下单", 0)]
    values = data["top_values"]
    assert values["columns"] == ["客户编号", "客户名称", "客户分层", "生命周期价值", "年度消费额", "近12个月订单"]
    assert [r["cells"] for r in values["rows"]] == [
        [world["D"].code, "丁公司", "高价值客户", "¥80,000.00", "¥50,000.00", "1"],
        [world["A"].code, "甲公司", "高价值客户", "¥30,000.00", "¥15,000.50", "2"],
        [world["E"].code, "戊公司", "低价值客户", "¥5,000.00", "¥2,500.00", "1"],
        [world["B"].code, "乙公司", "普通客户", "—", "¥8,000.00", "1"]]
    top = data["top_customers"]["rows"]
    assert [(r["id"], r["cells"]) for r in top] == [
        (world["D"].id, [world["D"].code, "丁公司", "¥50,000.00", "1"]),
        (world["A"].id, [world["A"].code, "甲公司", "¥15,000.50", "2"]),
        (world["B"].id, [world["B"].code, "乙公司", "¥8,000.00", "1"]),
        (world["E"].id, [world["E"].code, "戊公司", "¥2,500.00", "1"]),
        (world["C"].id, [world["C"].code, "丙公司", "¥1,000.00", "1"])]


def test_the_system_sees_what_the_admin_sees(world, users):
    """user=None, grant=None: every card over every customer (benchmarks and jobs, which have no viewer)."""
    system = cards(dashboard.build(None, None, TODAY, "12m"))
    assert system == cards(board(users, "admin"))


def test_manager_sees_the_team(world, users):
    data = cards(board(users, "manager"))  # sales1 and sales2: A, B, C
    assert data["new_customers"]["value"] == 2 and data["new_customers"]["month"] == 1
    assert data["sales_total"]["value"] == 24000.50 and data["sales_total"]["orders"] == 4
    assert [(i["name"], i["value"]) for i in data["customers_by_status"]["items"]] == [
        ("潜在客户", 1), ("意向客户", 1), ("成交客户", 1), ("流失客户", 0)]
    assert [(i["key"], i["value"]) for i in data["tasks_due"]["items"]] == [("overdue", 1), ("today", 1),
                                                                           ("upcoming", 1)]
    assert list(zip(data["rule_tags"]["labels"], data["rule_tags"]["values"])) == [
        ("高价值", 1), ("流失风险", 0), ("近30天下单", 0)]
    assert [(i["name"], i["value"]) for i in data["funnel"]["items"]] == [("潜在客户", 2), ("意向客户", 2), ("成交客户", 1)]
    assert [r["cells"][0] for r in data["top_values"]["rows"]] == [world["A"].code, world["B"].code]
    assert [r["id"] for r in data["top_customers"]["rows"]] == [world["A"].id, world["B"].id, world["C"].id]
    other = cards(board(users, "manager2"))  # sales3: D, E
    assert other["sales_total"]["value"] == 52500 and [(i["name"], i["value"]) for i in other["industry_mix"]["items"]] \
        == [("未填写", 1), ("金融", 1)]


def test_rep_sees_own_numbers(world, users):
    data = cards(board(users, "sales1"))  # A, B
    assert data["new_customers"]["value"] == 2 and data["new_customers"]["month"] == 1
    assert data["sales_total"]["value"] == 23000.50 and data["sales_total"]["orders"] == 3
    assert [(i["key"], i["value"]) for i in data["tasks_due"]["items"]] == [("overdue", 1), ("today", 1),
                                                                           ("upcoming", 0)]
    assert [(i["name"], i["value"]) for i in data["funnel"]["items"]] == [("潜在客户", 2), ("意向客户", 2), ("成交客户", 1)]
    assert [r["id"] for r in data["top_customers"]["rows"]] == [world["A"].id, world["B"].id]
    assert [(i["name"], i["value"]) for i in data["industry_mix"]["items"]] == [("互联网", 1), ("制造业", 1)]
    assert [r["id"] for r in cards(board(users, "sales3", period="month"))["top_customers"]["rows"]] == [world["D"].id]


def test_service_gets_no_money_cards_because_the_policy_hides_amounts(world, users, login):
    data = cards(board(users, "service"))
    assert not MONEY_CARDS & set(data)
    assert data["new_customers"]["value"] == 4  # row scope all
    # the value table without its money columns (valuation leaves them out), no funnel or tasks (no keys)
    assert data["top_values"]["columns"] == ["客户编号", "客户名称", "客户分层", "近12个月订单"]
    assert data["top_values"]["rows"][0]["cells"][2:] == ["高价值客户", "1"]
    assert "funnel" not in data and "tasks_due" not in data
    page = login("service").get("/admin/")
    html = page.get_data(as_text=True)
    assert "¥" not in json.dumps(_blob(page), ensure_ascii=False) and 'id="card-new_customers"' in html
    assert not any(f'id="card-{key}"' in html for key in MONEY_CARDS)
    # the policy decides, not the role: show service the amounts and the money cards appear
    role = Role.get(Role.name == "service")
    ColumnRule.delete().where((ColumnRule.role == role) & (ColumnRule.model == "order")
                              & (ColumnRule.column == "amount")).execute()
    access.bump_version()
    assert MONEY_CARDS <= set(cards(board(users, "service")))
    assert cards(board(users, "service"))["sales_total"]["display"] == "¥76,500.50"


def test_periods(world, users):
    month = board(users, "admin", period="month")
    assert month["period"] == {"key": "month", "label": "本月", "start": "2025-06-01", "end": "2025-06-18"}
    data = cards(month)
    assert data["sales_trend"]["labels"][0] == "2025-06-01" and data["sales_trend"]["labels"][-1] == "2025-06-18"
    assert dict(zip(data["sales_trend"]["labels"], data["sales_trend"]["series"][0]["values"]))["2025-06-05"] == 12000.50
    assert data["sales_total"]["value"] == 62000.50 and data["new_customers"]["value"] == 2
    assert [r["id"] for r in data["top_customers"]["rows"]] == [world["D"].id, world["A"].id]
    assert [(i["name"], i["value"]) for i in data["funnel"]["items"]] == [("潜在客户", 2), ("意向客户", 2), ("成交客户", 2)]
    quarter = cards(board(users, "admin", period="3m"))  # from 2025-04-01
    assert quarter["sales_trend"]["labels"] == ["2025-04", "2025-05", "2025-06"]
    assert quarter["sales_total"]["value"] == 65000.50 and quarter["new_customers"]["value"] == 2
    year = cards(board(users, "admin", period="year"))  # from 2025-01-01
    assert year["sales_total"]["value"] == 73000.50 and year["new_customers"]["value"] == 3
    assert len(year["sales_trend"]["labels"]) == 6
    # the same data seen from another day: nothing reads the clock
    later = cards(board(users, "admin", period="3m", today=datetime.date(2025, 7, 2)))  # from 2025-05-01
    assert later["sales_total"]["value"] == 72777.50 and later["new_customers"]["value"] == 2
    assert [(i["key"], i["value"]) for i in later["tasks_due"]["items"]] == [("overdue", 4), ("today", 0),
                                                                            ("upcoming", 0)]
    july = cards(board(users, "admin", period="month", today=datetime.date(2025, 7, 2)))
    assert july["sales_total"]["value"] == 0 and july["sales_trend"]["empty"] and july["top_customers"]["empty"]
    with pytest.raises(dashboard.UnknownPeriod, match="未知的统计期间"):
        board(users, "admin", period="week")


def test_empty_database_reads_well(app, login):
    app.config["DASHBOARD_TODAY"] = TODAY
    page = login("admin").get("/admin/")
    assert page.status_code == 200
    data = cards(_blob(page))
    assert data["sales_trend"]["empty"] and data["top_customers"]["empty"] and data["customers_by_status"]["empty"]
    assert data["rule_tags"]["empty"] and data["new_customers"]["display"] == "0"
    assert data["funnel"]["empty"] and data["top_values"]["empty"]
    assert [i["value"] for i in data["tasks_due"]["items"]] == [0, 0, 0]
    assert data["sales_total"]["display"] == "¥0.00"


def _blob(response):
    html = response.get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert found, "no dashboard data in the page"
    return json.loads(found.group(1))


def test_page_and_data_endpoint(world, login):
    client = login("sales")
    page = client.get("/admin/?period=3m")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/static/vendor/echarts/echarts.min.js" in html and "cdn" not in html.lower()
    assert 'data-period="3m"' in html and "近12个月" in html and 'id="whoami"' in html
    assert cards(_blob(page))["sales_total"]["value"] == 3000 + 12000.50
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    answer = client.get("/admin/dashboard-data?period=month")
    assert answer.status_code == 200 and answer.json["period"]["key"] == "month"
    assert cards(answer.json)["sales_total"]["display"] == "¥12,000.50"
    refused = client.get("/admin/dashboard-data?period=week")
    assert refused.status_code == 400 and refused.json["error"].startswith("未知的统计期间“week”")
    fallback = client.get("/admin/?period=week")
    assert fallback.status_code == 200 and "未知的统计期间“week”" in fallback.get_data(as_text=True)
    assert _blob(fallback)["period"]["key"] == dashboard.DEFAULT
    assert client.get("/admin/dashboard-data").status_code == 200
    # not logged in: the login page, for the page and the data alike
    anonymous = client.application.test_client()
    assert anonymous.get("/admin/dashboard-data").status_code == 302


def test_links_follow_the_policy(world, login):
    admin = login("admin").get("/admin/").get_data(as_text=True)
    assert 'href="/admin/customer/"' in admin and 'href="/admin/order/"' in admin
    service = login("service").get("/admin/").get_data(as_text=True)
    assert 'href="/admin/importrun/"' not in service and 'href="/admin/reportrun/"' not in service


def raw_tables(sql):
    """The big tables a statement reads, which the page leaves to the roll-ups."""
    return [t for t in ("orders", "status_change", "customer_tag") if f'FROM "{t}"' in sql or f'JOIN "{t}"' in sql]


@contextmanager
def statements():
    """Every SQL statement peewee sends in the block (its DEBUG log of each execute_sql)."""
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):
                seen.append(record.msg[0])

    logger = logging.getLogger("peewee")
    handler, level = Collect(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("username, scope_queries", [("admin", 0), ("sales1", 0), ("manager", 2)])
def test_one_statement_per_source_whatever_the_cards(world, users, username, scope_queries):
    user = users[username]
    grant = access.grant_for(user)
    sources = {card.source for card in dashboard.cards_for(grant)}
    with statements() as seen:
        dashboard.build(user, grant, TODAY, "12m")
    # the roll-ups' freshness, then each source's statements (customers and funnel: two each)
    assert len(seen) == 1 + sum(STATEMENTS[name] for name in sources) + scope_queries, seen
    assert len(dashboard.cards_for(grant)) == 10 and len(sources) == 7 and len(seen) - scope_queries == 10
    assert not any(raw_tables(sql) for sql in seen), seen
    # a tenth card on an existing source costs no statement
    dashboard.card("status_again", {"zh": "又一张", "en": "Again"}, "pie", "customers",
                   lambda rows, ctx: {"items": [], "empty": True}, lambda g: True)
    try:
        with statements() as again:
            dashboard.build(user, grant, TODAY, "12m")
        assert len(again) == len(seen)
    finally:
        dashboard.unregister("status_again")


def test_page_statements_do_not_grow_with_the_data(world, login, make_customer):
    client = login("admin")
    client.get("/admin/")  # warm: grants and translations
    with statements() as first:
        client.get("/admin/")
    for n in range(20):
        customer = make_customer(owner="sales2", created_at=D(2025, 6, 1))
        Order.create(customer=customer, order_no=f"MORE{n:03d}", ordered_at=D(2025, 6, 2), amount="10")
    with statements() as second:
        client.get("/admin/")
    assert len(second) == len(first)
    assert not any(raw_tables(sql) for sql in second), second  # the trend and the top customers: roll-ups
    with statements() as selector:
        client.get("/admin/dashboard-data?period=3m")
    assert len(selector) == len(second)


def test_english_follows_the_interface_language(world, login):
    client = login("admin")
    client.get("/lang/en")
    page = client.get("/admin/?period=year")
    blob = _blob(page)
    assert blob["period"]["label"] == "This year" and [p["label"] for p in blob["periods"]][0] == "This month"
    titles = {card["key"]: card["title"] for card in blob["cards"]}
    assert titles["sales_trend"] == "Sales trend" and titles["funnel"] == "Sales funnel"
    assert cards(blob)["top_values"]["columns"][:3] == ["Code", "Name", "Tier"]
    assert client.get("/admin/dashboard-data?period=week").json["error"] == "Unknown period “week”"
