"""The customer value table (valuation, 客户价值分析表): the refresh against hand-computed aggregates, the LTV
against analytics' own CLV on the same data, re-runs, the screen and export per role, valuation.top, the tag-rule
metric 客户分层, the CLI and the daily job on the queue.  Fixed dates throughout (the day is a parameter)."""
import datetime
import io
import json
from decimal import Decimal

import openpyxl
import pytest

import access
import tagrules
import valuation
from analytics import clv, fitting, queries
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from models import AuditLog, Customer, CustomerTag, CustomerValue, Order, Tag, TagRule, ValueRefresh
from tests.policy_support import ListPage

AS_OF = datetime.date(2025, 6, 30)  # the window of 365 days is 2024-07-01 .. 2025-06-30


def rows():
    """customer id -> (annual_spend, orders_12m, ltv, tier, last_order_at, as_of)."""
    return {v.customer_id: (v.annual_spend, v.orders_12m, v.ltv, v.tier, v.last_order_at, v.as_of)
            for v in CustomerValue.select()}


@pytest.fixture
def small(app, make_customer, make_order):
    """Five buyers and two customers without a recent order; too few for the model (tiers by 年度消费额)."""
    c = {name: make_customer(owner=owner, name=name) for name, owner in
         (("甲公司", "sales1"), ("乙公司", "sales1"), ("丙公司", "sales2"), ("丁公司", "sales3"), ("戊公司", "sales3"),
          ("老客户", "sales1"), ("新客户", "sales2"))}
    order = lambda name, amount, when: make_order(c[name], amount=amount, ordered_at=when)  # noqa: E731
    order("甲公司", "100.50", datetime.datetime(2025, 6, 30, 23, 0))  # the last day of the window
    order("甲公司", "200.25", datetime.datetime(2024, 7, 1, 0, 0))  # its first moment
    order("甲公司", "999.00", datetime.datetime(2024, 6, 30, 23, 59))  # just before it: not in the year
    order("甲公司", "5000.00", datetime.datetime(2025, 7, 1, 0, 0))  # after as_of: nowhere
    order("乙公司", "1200.00", datetime.datetime(2025, 1, 15, 9, 30))
    order("丙公司", "50.00", datetime.datetime(2025, 3, 1, 8, 0))
    order("丙公司", "50.00", datetime.datetime(2025, 3, 2, 8, 0))
    order("丁公司", "80000.00", datetime.datetime(2024, 12, 1, 12, 0))
    order("戊公司", "10.00", datetime.datetime(2025, 5, 5, 5, 5))
    order("老客户", "7000.00", datetime.datetime(2023, 1, 1, 10, 0))
    return c


def test_refresh_matches_hand_computed_aggregates(small):
    outcome = valuation.refresh(AS_OF, now=datetime.datetime(2025, 7, 1, 2, 30))
    assert outcome.customers == 7 and outcome.basis == "annual_spend"
    assert "数据不足" in outcome.notes[0]
    got = rows()
    c = {name: customer.id for name, customer in small.items()}
    # Ranked by 年度消费额 among the five with a positive one: 80000, 1200, 300.75, 100, 10, at positions
    # 1/5 .. 5/5 against the cumulative bounds 0.2 / 0.5 / 0.8 / 1.0.
    assert got[c["丁公司"]] == (Decimal("80000"), 1, None, "高价值客户", datetime.datetime(2024, 12, 1, 12, 0), AS_OF)
    assert got[c["乙公司"]] == (Decimal("1200"), 1, None, "潜力客户", datetime.datetime(2025, 1, 15, 9, 30), AS_OF)
    assert got[c["甲公司"]] == (Decimal("300.75"), 2, None, "普通客户", datetime.datetime(2025, 6, 30, 23, 0), AS_OF)
    assert got[c["丙公司"]] == (Decimal("100"), 2, None, "普通客户", datetime.datetime(2025, 3, 2, 8, 0), AS_OF)
    assert got[c["戊公司"]] == (Decimal("10"), 1, None, "低价值客户", datetime.datetime(2025, 5, 5, 5, 5), AS_OF)
    assert got[c["老客户"]] == (Decimal("0"), 0, None, "低价值客户", datetime.datetime(2023, 1, 1, 10, 0), AS_OF)
    assert got[c["新客户"]] == (Decimal("0"), 0, None, "低价值客户", None, AS_OF)
    refresh = ValueRefresh.get()
    assert (refresh.as_of, refresh.customers, refresh.basis) == (AS_OF, 7, "annual_spend")
    entry = AuditLog.get(AuditLog.action == "refresh")
    assert entry.model == "customervalue" and entry.rows == 7 and entry.username == "system"
    assert json.loads(entry.changes)["tiers"] == {"高价值客户": 1, "潜力客户": 1, "普通客户": 2, "低价值客户": 3}


def test_a_past_day_leaves_out_what_came_after(small):
    valuation.refresh(datetime.date(2024, 12, 31))
    got = rows()
    # 甲: the order of 2024-07-01 (200.25) and the one of 2024-06-30 (999.00) are both in 2024-01-01..12-31.
    assert got[small["甲公司"].id][:2] == (Decimal("1199.25"), 2)
    assert got[small["甲公司"].id][4] == datetime.datetime(2024, 7, 1, 0, 0)
    assert got[small["乙公司"].id][:2] == (Decimal("0"), 0) and got[small["乙公司"].id][4] is None


def test_refresh_wants_a_date(app):
    with pytest.raises(TypeError):
        valuation.refresh("2025-06-30")


@pytest.fixture
def generated(app):
    """Demo data for the fixed day: enough buyers for the model."""
    import demo

    demo.generate(customers=300, seed=3, now=REFERENCE_NOW)


def test_ltv_is_analytics_clv_on_the_same_data(generated):
    outcome = valuation.refresh(REFERENCE_DAY)
    assert outcome.basis == "ltv"
    summary = queries.customer_summary(REFERENCE_DAY, unit_days=7)
    models_ = fitting.fit_value_models(summary)
    expected = clv.predict_clv(summary, 36, 0.01, 7, bgnbd=models_.bgnbd.model,
                               gamma_gamma=models_.gamma_gamma.model)["clv"]
    got = {v.customer_id: v for v in CustomerValue.select()}
    assert len(got) == Customer.select().count() == 300
    for customer_id, value in expected.items():
        assert float(got[customer_id].ltv) == pytest.approx(value, abs=0.006)
    non_buyers = set(got) - set(expected.index)
    assert non_buyers and all(got[i].ltv == 0 and got[i].tier == "低价值客户" for i in non_buyers)
    # The tiers are the value report's (analytics.clv.value_tiers) over the customers with a positive LTV.
    positive = expected.round(2)
    positive = positive[positive > 0]
    assert {i: got[i].tier for i in positive.index} == clv.value_tiers(positive).to_dict()
    # 年度消费额 and 订单总笔数 against the order rows, summed here in Python.
    start = datetime.datetime.combine(REFERENCE_DAY - datetime.timedelta(days=364), datetime.time())
    end = datetime.datetime.combine(REFERENCE_DAY + datetime.timedelta(days=1), datetime.time())
    spend, count = {}, {}
    for order in Order.select().where((Order.ordered_at >= start) & (Order.ordered_at < end)):
        spend[order.customer_id] = spend.get(order.customer_id, Decimal(0)) + order.amount
        count[order.customer_id] = count.get(order.customer_id, 0) + 1
    assert {i: (v.annual_spend, v.orders_12m) for i, v in got.items() if v.orders_12m} == \
        {i: (spend[i], count[i]) for i in spend}


def test_a_second_refresh_writes_the_same_rows(generated):
    valuation.refresh(REFERENCE_DAY, now=datetime.datetime(2026, 12, 8, 2, 30))
    first = rows()
    again = valuation.refresh(REFERENCE_DAY, now=datetime.datetime(2026, 12, 8, 3, 0))
    assert rows() == first and CustomerValue.select().count() == 300 == again.customers
    assert ValueRefresh.select().count() == 2 and AuditLog.select().where(AuditLog.action == "refresh").count() == 2
    assert {v.refreshed_at for v in CustomerValue.select()} == {datetime.datetime(2026, 12, 8, 3, 0)}


def test_a_fit_on_a_fixed_seed_sample_says_so(generated):
    one = valuation.refresh(REFERENCE_DAY, fit_sample=100)
    first = rows()
    two = valuation.refresh(REFERENCE_DAY, fit_sample=100)
    assert rows() == first  # the same sample each time
    assert "固定随机种子抽样" in one.notes[0] and one.notes == two.notes
    assert one.basis == "ltv" and CustomerValue.select().where(CustomerValue.ltv > 0).count() > 100


# --- the screen, the export and valuation.top per role ----------------------------------------------------
@pytest.fixture
def refreshed(small):
    small["甲公司"].name = '=HYPERLINK("http://x")'
    small["甲公司"].save()
    valuation.refresh(AS_OF)
    return small


def scope_ids(username, users):
    user = users[username]
    grant = access.grant_for(user)
    return {c.id for c in access.scope_query(Customer, Customer.select(), user, grant)}


@pytest.mark.parametrize("role, username", [("admin", "admin"), ("manager", "manager"), ("sales", "sales1"),
                                            ("service", "service")])
def test_screen_rows_and_columns_follow_the_policy(refreshed, login, users, role, username):
    response = login(role).get("/admin/customervalue/?sort=0")
    assert response.status_code == 200
    page = ListPage(response.get_data(as_text=True))
    by_customer = {v.id: v.customer_id for v in CustomerValue.select()}
    assert {by_customer[i] for i in page.ids} == scope_ids(username, users)
    money = {"annual_spend", "ltv"}
    if role == "service":
        assert not money & set(page.headers) and "¥" not in response.get_data(as_text=True)
    else:
        assert money <= set(page.headers) and page.headers["annual_spend"] == "年度消费额"
    assert {"code", "name", "orders_12m", "tier", "last_order_at"} <= set(page.headers)
    assert page.headers["tier"] == "客户分层" and page.headers["ltv" if role != "service" else "tier"]
    html = response.get_data(as_text=True)
    assert "数据日期" in html and "2025-06-30" in html


def test_money_has_thousands_separators_and_tier_filter(refreshed, login):
    client = login("admin")
    page = ListPage(client.get("/admin/customervalue/").get_data(as_text=True))
    texts = {row["name"]: row for row in page.rows.values()}
    assert texts["丁公司"]["annual_spend"] == "¥80,000.00" and texts["丁公司"]["tier"] == "高价值客户"
    assert texts["丁公司"]["last_order_at"] == "2024-12-01 12:00" and texts["新客户"]["ltv"] == "—"
    tier_filter = next(i for i, label in enumerate(page.filters) if label == "客户分层")
    filtered = ListPage(client.get(f"/admin/customervalue/?flt0_{tier_filter}=潜力客户").get_data(as_text=True))
    assert {row["name"] for row in filtered.rows.values()} == {"乙公司"}
    searched = ListPage(client.get("/admin/customervalue/?search=丁公司").get_data(as_text=True))
    assert [row["name"] for row in searched.rows.values()] == ["丁公司"]


def test_export_is_scoped_audited_and_formula_safe(refreshed, login, users):
    response = login("manager").get("/admin/customervalue/export/xlsx/")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    table = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header, body = table[0], table[1:]
    assert header == ["客户编号", "客户名称", "年度消费额", "订单总笔数", "客户生命周期价值 LTV", "客户分层", "最后下单时间", "数据日期"]
    names = {row[1] for row in body}
    team = {c.name for c in Customer.select().where(Customer.id.in_(scope_ids("manager", users)))}
    assert names == {n if not n.startswith("=") else "'" + n for n in team}
    assert "'=HYPERLINK(\"http://x\")" in names and "丁公司" not in names  # sales3 is manager2's team
    spend = {row[1]: row[2] for row in body}
    assert spend["乙公司"] == "1200.00"  # exports keep plain numbers; the screens format them
    entry = AuditLog.get(AuditLog.action == "export")
    assert entry.username == "manager" and entry.model == "customervalue" and entry.rows == len(body)


def test_reps_and_service_may_not_export_and_no_one_edits(refreshed, login):
    for role in ("sales", "service"):
        client = login(role)
        client.get("/admin/customervalue/export/xlsx/")
        assert not AuditLog.select().where(AuditLog.action == "export").exists()
        assert "export/xlsx" not in client.get("/admin/customervalue/").get_data(as_text=True)
    admin = login("admin")
    assert admin.get("/admin/customervalue/new/").status_code in (302, 403, 404)
    row = CustomerValue.get()
    assert admin.get(f"/admin/customervalue/edit/?id={row.id}").status_code in (302, 403, 404)
    assert CustomerValue.select().count() == 7


def test_no_refresh_yet_says_how(app, login):
    html = login("manager").get("/admin/customervalue/").get_data(as_text=True)
    assert "尚未生成" in html and "refresh-values" in html


def test_top_in_scope_without_hidden_columns(refreshed, users):
    def top(username, n=3):
        user = users[username]
        grant = access.grant_for(user)
        return valuation.top(access.scope_query(Customer, Customer.select(), user, grant), n, grant)

    everyone = top("admin", 10)
    assert [t["name"] for t in everyone[:3]] == ["丁公司", "乙公司", '=HYPERLINK("http://x")']  # no LTV: by spend
    assert everyone[0]["annual_spend"] == Decimal("80000") and everyone[0]["tier"] == "高价值客户"
    assert [Customer.get_by_id(t["customer_id"]).name for t in everyone] == [t["name"] for t in everyone]
    assert {t["name"] for t in top("sales1", 10)} == {"乙公司", '=HYPERLINK("http://x")', "老客户"}
    hidden = top("service")
    assert hidden and all("ltv" not in t and "annual_spend" not in t for t in hidden)
    assert valuation.top(Customer.select(), 0) == []


# --- the tag-rule metric 客户分层 ----------------------------------------------------------------------
def test_tag_rule_on_the_tier(refreshed):
    vip = Tag.create(name="价值高", category="价值", source="rule")
    others = Tag.create(name="非高价值", category="价值", source="rule")
    TagRule.create(name="高价值客户规则", tag=vip, enabled=True,
                   condition=json.dumps({"all": [{"metric": "value_tier", "op": "=", "value": "高价值客户"}]}))
    TagRule.create(name="其余客户规则", tag=others, enabled=True,
                   condition=json.dumps({"all": [{"metric": "value_tier", "op": "not_in",
                                                  "value": ["高价值客户", "潜力客户"]}]}))
    unrefreshed = Customer.create(name="未刷新公司", customer_type="企业", region="华北", industry="互联网",
                                  first_contact=datetime.date(2024, 1, 1))
    assert tagrules.describe(tagrules.parse(json.dumps({"all": [{"metric": "value_tier", "op": "=",
                                                                 "value": "高价值客户"}]}))) == "客户分层 等于 高价值客户"
    with pytest.raises(tagrules.Invalid):
        tagrules.parse(json.dumps({"all": [{"metric": "value_tier", "op": "=", "value": "VIP"}]}))
    tagrules.sweep(as_of=AS_OF, today=AS_OF)
    tagged = lambda tag: {ct.customer_id for ct in CustomerTag.select().where(CustomerTag.tag == tag)}  # noqa: E731
    assert tagged(vip) == {refreshed["丁公司"].id}
    assert tagged(others) == {refreshed[n].id for n in ("甲公司", "丙公司", "戊公司", "老客户", "新客户")} | {unrefreshed.id}
    # 乙公司 buys a lot; the next refresh moves the tiers and the next sweep follows them.
    Order.create(customer=refreshed["乙公司"], order_no="SO-VALUE-1", ordered_at=datetime.datetime(2025, 6, 1),
                 amount="150000.00", quantity=1, product="标准版", channel="线上")
    valuation.refresh(AS_OF)
    tagrules.sweep(as_of=AS_OF, today=AS_OF)
    assert tagged(vip) == {refreshed["乙公司"].id}
    assert refreshed["丁公司"].id not in tagged(others)  # now 潜力客户


# --- the command line and the daily job ------------------------------------------------------------------
def test_cli(app, small):
    from run import cli

    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["refresh-values", "--as-of", "2025-06-30"])
    assert result.exit_code == 0, result.output
    assert "数据日期 2025-06-30，7 位客户" in result.output and "高价值客户：1" in result.output
    as_json = runner.invoke(cli, ["refresh-values", "--as-of", "2025-06-30", "--json"])
    assert json.loads(as_json.output)["tiers"]["低价值客户"] == 3
    for bad, message in (("2025-13-01", "应为 YYYY-MM-DD"), ("2999-01-01", "不能晚于今天")):
        refused = runner.invoke(cli, ["refresh-values", "--as-of", bad])
        assert refused.exit_code != 0 and message in refused.output
    assert ValueRefresh.select().count() == 2


def test_the_daily_job_runs_on_a_real_worker(app, small, worker):
    import jobs
    from models import JobRun
    from tests.test_subscriptions_support import wait_for

    jobs.discover()
    job = jobs.get("value-refresh")
    assert job.schedule == "30 2 * * *" and jobs.get("tag-rules").schedule == "15 3 * * *"  # tiers before the sweep
    run = jobs.run_now("value-refresh", username="admin")
    wait_for(lambda: JobRun.get_by_id(run.id).status in ("success", "failed"), "the value-refresh job")
    done = JobRun.get_by_id(run.id)
    assert done.status == "success", done.error
    refresh = ValueRefresh.get()
    assert refresh.trigger == "schedule" and refresh.customers == 7 == CustomerValue.select().count()
    assert {v.as_of for v in CustomerValue.select()} == {refresh.as_of}


def test_the_demo_command_fills_the_table_for_its_day(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    import run

    result = CliRunner().invoke(run.cli, ["demo", "--customers", "60", "--password", "demo-pass-123",
                                          "--today", "2025-03-03"], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "60 位客户，数据日期 2025-03-03" in result.output
    with app.app_context():
        assert CustomerValue.select().count() == 60
        assert {v.as_of for v in CustomerValue.select()} == {datetime.date(2025, 3, 3)}


def test_the_screen_follows_the_interface_language(refreshed, login):
    client = login("manager")
    client.get("/lang/en", headers={"Referer": "http://localhost/admin/customervalue/"})
    html = client.get("/admin/customervalue/").get_data(as_text=True)
    page = ListPage(html)
    assert page.headers["annual_spend"] == "Annual spend" and page.headers["tier"] == "Tier"
    assert "predicted value of the next 3 years" in html and "年度消费额与订单总笔数" not in html


def test_the_check_after_a_change_reads_the_tier_of_that_customer(refreshed):
    vip = Tag.create(name="价值高", category="价值", source="rule")
    TagRule.create(name="高价值客户规则", tag=vip, enabled=True,
                   condition=json.dumps({"all": [{"metric": "value_tier", "op": "in", "value": ["高价值客户"]}]}))
    top, other = refreshed["丁公司"], refreshed["乙公司"]
    tagrules.after_change([top.id, other.id], today=AS_OF)
    assert {ct.customer_id for ct in CustomerTag.select().where(CustomerTag.tag == vip)} == {top.id}


def test_the_rule_form_offers_the_tier_metric(refreshed, login):
    html = login("admin").get("/admin/tagrule/new/").get_data(as_text=True)
    assert "客户分层" in html and "高价值客户" in html and "value_tier" in html


def test_a_refresh_of_an_empty_database_writes_nothing_and_says_why(app):
    outcome = valuation.refresh(AS_OF)
    assert outcome.customers == 0 and CustomerValue.select().count() == 0
    assert outcome.basis == "annual_spend" and "没有订单" in outcome.notes[0]
