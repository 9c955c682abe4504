"""The custom report builder (reportbuilder): numbers against a small data set computed by hand, the policy on
measures, row scope, bad specs, the templates, saving and the screen.  One data set per module (fixed dates)."""
import datetime
import io
import json

import pytest

import access
import models
import reportbuilder
import reportbuilder.delivery
from analytics import engines
from models import AuditLog, Customer, CustomerTag, CustomerValue, Order, SavedReport, Tag, User
from reportbuilder import charts, saved, templates
from reportbuilder.spec import SpecError, parse
from tests.conftest import build_app

TODAY = datetime.date(2026, 6, 30)  # last_12_months: 2025-07-01 to 2026-06-30


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Four customers, hand-made:

    A  sales1  互联网 华北 成交客户  first 2025-08-10  orders 2026-01-10 100, 2026-01-20 200, 2026-03-05 300
                                                        tier 高价值客户 LTV 5,000   tags 高价值
    B  sales1  制造   华东 意向客户  first 2026-02-01  order 2026-03-07 50.50     tier 普通客户 LTV 1,000   tags 重点
    C  sales2  互联网 华东 成交客户  first 2026-03-15  orders 2025-05-01 1,000 (before the period), 2026-06-30 23:00 400
                                                        no value row                tags 高价值
    D  sales2  (no industry)  潜在客户 no first contact, no orders
    """
    application = build_app(tmp_path_factory.mktemp("report-builder"))
    application.config["REPORT_BUILDER_TODAY"] = TODAY
    with application.app_context():
        users = {u.username: u for u in User.select()}

        def customer(code, owner, industry, region, status, first):
            return Customer.create(code=code, name=f"客户{code}", owner=users[owner], industry=industry, region=region,
                                   status=status, first_contact=first)

        a = customer("A", "sales1", "互联网", "华北", "成交客户", datetime.date(2025, 8, 10))
        b = customer("B", "sales1", "制造", "华东", "意向客户", datetime.date(2026, 2, 1))
        c = customer("C", "sales2", "互联网", "华东", "成交客户", datetime.date(2026, 3, 15))
        customer("D", "sales2", None, "华北", "潜在客户", None)
        for number, (who, at, amount) in enumerate([
                (a, "2026-01-10 09:00", "100.00"), (a, "2026-01-20 10:00", "200.00"),
                (a, "2026-03-05 11:00", "300.00"),
                (b, "2026-03-07 12:00", "50.50"), (c, "2025-05-01 08:00", "1000.00"), (c, "2026-06-30 23:00", "400.00")]):
            Order.create(customer=who, order_no=f"RB{number:04d}", ordered_at=datetime.datetime.fromisoformat(at),
                         amount=amount)
        now = datetime.datetime(2026, 6, 30, 3, 0)
        CustomerValue.create(customer=a, annual_spend=600, orders_12m=3, ltv=5000, tier="高价值客户", as_of=TODAY,
                             refreshed_at=now)
        CustomerValue.create(customer=b, annual_spend=50.5, orders_12m=1, ltv=1000, tier="普通客户", as_of=TODAY,
                             refreshed_at=now)
        high = Tag.create(name="高价值", category="价值", source="rule")
        key = Tag.create(name="重点", category="价值")
        for who, tag in ((a, high), (c, high), (b, key)):
            CustomerTag.create(customer=who, tag=tag)
    models.db.close()
    yield application
    models.db.close()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def engines_serving():
    """Every analytics engine that can run on the test database: DuckDB and plain SQLite on a SQLite file, the
    database itself on PostgreSQL."""
    return [name for name, engine in engines.ENGINES.items() if engine.serves()]


def grant_of(username):
    user = User.get(User.username == username)
    grant = access.grant_for(user)
    return user, grant, access.owner_ids(user, grant)


def table(spec_data, username="admin", engine=None):
    """{row labels: (values...)} of `spec_data` run as `username`, on each serving engine (all must agree)."""
    user, grant, owners = grant_of(username)
    spec = parse(spec_data, grant, TODAY)
    answers = []
    for name in ([engine] if engine else engines_serving()):
        with engines.using(name):
            result = reportbuilder.run(spec, owners)
        answers.append({row[:len(spec.rows)]: row[len(spec.rows):] for row in result.rows})
    assert all(answer == answers[0] for answer in answers), answers
    return answers[0]


LAST_12 = {"preset": "last_12_months"}


def test_industry_measures_by_hand(ctx):
    got = table({"rows": ["industry"], "measures": ["customers", "orders", "revenue", "aov", "repeat_rate"],
                 "period": LAST_12})
    assert got == {("互联网",): (2, 4, 1000.0, 250.0, 0.5),  # A (3 orders, 600) and C (1 in the period, 400)
                   ("制造",): (1, 1, 50.5, 50.5, 0.0),
                   ("未填写",): (1, 0, 0.0, None, None)}  # D: no orders, no AOV, no buyers


def test_order_months_count_active_customers(ctx):
    got = table({"rows": ["order_month"], "measures": ["customers", "orders", "revenue"], "period": LAST_12})
    assert got == {("2026-01",): (1, 2, 300.0), ("2026-03",): (2, 2, 350.5), ("2026-06",): (1, 1, 400.0)}


def test_quarters_over_all_time_in_order(ctx):
    user, grant, owners = grant_of("admin")
    spec = parse({"rows": ["order_quarter"], "measures": ["revenue", "orders"], "period": {"preset": "all"}},
                 grant, TODAY)
    for name in engines_serving():
        with engines.using(name):
            rows = reportbuilder.run(spec, owners).rows
        assert rows == [("2025-Q2", 1000.0, 1), ("2026-Q1", 650.5, 4), ("2026-Q2", 400.0, 1)]


def test_custom_period_and_filters(ctx):
    period = {"start": "2026-03-01", "end": "2026-03-31"}
    assert table({"rows": ["region"], "measures": ["orders", "revenue"], "period": period}) == {
        ("华北",): (1, 300.0), ("华东",): (1, 50.5)}
    assert table({"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12,
                  "filters": {"tag": ["高价值"]}}) == {("互联网",): (2, 1000.0)}
    assert table({"rows": ["status"], "measures": ["customers"], "period": LAST_12,
                  "filters": {"region": ["华东"], "industry": ["互联网"]}}) == {("成交客户",): (1,)}


def test_tags_tiers_owners_and_two_dimensions(ctx):
    assert table({"rows": ["tag"], "measures": ["customers", "revenue"], "period": LAST_12}) == {
        ("高价值",): (2, 1000.0), ("重点",): (1, 50.5)}
    assert table({"rows": ["tier"], "measures": ["customers", "ltv"], "period": LAST_12}) == {
        ("高价值客户",): (1, 5000.0), ("普通客户",): (1, 1000.0), ("未分层",): (2, None)}
    owners = {u.username: u.display_name for u in User.select()}
    assert table({"rows": ["owner"], "measures": ["customers", "orders"], "period": LAST_12}) == {
        (owners["sales1"],): (2, 4), (owners["sales2"],): (2, 1)}
    assert table({"rows": ["order_month", "industry"], "measures": ["revenue"], "period": LAST_12}) == {
        ("2026-01", "互联网"): (300.0,), ("2026-03", "互联网"): (300.0,), ("2026-03", "制造"): (50.5,),
        ("2026-06", "互联网"): (400.0,)}
    assert table({"rows": ["first_contact_month"], "measures": ["customers"], "period": LAST_12}) == {
        ("2025-08",): (1,), ("2026-02",): (1,), ("2026-03",): (1,)}  # D has no first contact; all in the period


def test_row_scope_a_rep_counts_only_their_customers(ctx):
    assert table({"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12}, "sales1") == {
        ("互联网",): (1, 600.0), ("制造",): (1, 50.5)}
    assert table({"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12}, "sales2") == {
        ("互联网",): (1, 400.0), ("未填写",): (1, 0.0)}


def test_order_months_alone_keep_the_scope_and_filters(ctx):
    """Order months without a customer dimension group the orders without joining the customers back: the scope
    and the filters must still apply."""
    spec = {"rows": ["order_month"], "measures": ["customers", "orders", "revenue"], "period": LAST_12}
    assert table(spec, "sales1") == {("2026-01",): (1, 2, 300.0), ("2026-03",): (2, 2, 350.5)}
    assert table({**spec, "filters": {"tag": ["高价值"]}}) == {
        ("2026-01",): (1, 2, 300.0), ("2026-03",): (1, 1, 300.0), ("2026-06",): (1, 1, 400.0)}
    assert table({**spec, "rows": ["order_quarter"], "measures": ["repeat_rate"], "filters": {"region": ["华北"]}}) == {
        ("2026-Q1",): (1.0,)}  # A: three orders in the quarter


def test_service_is_not_offered_money_and_a_crafted_spec_is_refused(ctx):
    user, grant, owners = grant_of("service")
    offered = [m.key for m in reportbuilder.policy.measures(grant)]
    assert offered == ["customers", "orders", "repeat_rate"]
    for money in ("revenue", "aov", "ltv"):
        with pytest.raises(SpecError) as refused:
            parse({"rows": ["industry"], "measures": ["customers", money], "period": LAST_12}, grant, TODAY)
        assert "您的角色不能查看指标" in str(refused.value)
    # what service may see it gets, over everyone's customers (scope all)
    assert table({"rows": ["industry"], "measures": ["customers", "orders"], "period": LAST_12}, "service") == {
        ("互联网",): (2, 4), ("制造",): (1, 1), ("未填写",): (1, 0)}


@pytest.mark.parametrize("data, message", [
    ({"rows": [], "measures": ["customers"]}, "请至少选择一个行维度"),
    ({"rows": ["industry", "region", "status"], "measures": ["customers"]}, "行维度最多选两个"),
    ({"rows": ["industry"], "measures": []}, "请至少选择一个指标"),
    ({"rows": ["nope"], "measures": ["customers"]}, "未知的维度“nope”"),
    ({"rows": ["industry"], "measures": ["profit"]}, "未知的指标“profit”"),
    ({"rows": ["order_month", "first_contact_quarter"], "measures": ["customers"]}, "只能选择一个时间维度"),
    ({"rows": ["industry"], "measures": ["customers"], "period": {"start": "2026-05-01", "end": "2026-04-01"}},
     "开始日期（2026-05-01）应早于结束日期（2026-04-01）"),
    ({"rows": ["industry"], "measures": ["customers"], "period": {"start": "2026-13-01", "end": "2026-04-01"}},
     "开始日期格式应为 YYYY-MM-DD"),
    ({"rows": ["industry"], "measures": ["customers"], "period": {"preset": "forever"}}, "未知的期间“forever”"),
    ({"rows": ["industry"], "measures": ["customers"], "filters": {"industry": ["农业"]}}, "筛选“行业”的值不在列表中：农业"),
    ({"rows": ["industry"], "measures": ["customers"], "filters": {"order_month": ["2026-01"]}}, "不能按“下单月份”筛选"),
    ({"rows": ["industry"], "measures": ["customers"], "limit": "0"}, "显示行数应在 1 到 1,000 之间"),
    ({"rows": ["industry"], "measures": ["customers"], "chart": "radar"}, "未知的图表类型“radar”"),
])
def test_bad_specs_are_refused_in_chinese(ctx, data, message):
    user, grant, owners = grant_of("admin")
    with pytest.raises(SpecError) as refused:
        parse(data, grant, TODAY)
    assert message in str(refused.value)


def test_templates_are_seeded_once_and_run(ctx):
    assert templates.seed() == 0  # init_db seeded them already
    assert {r.template for r in SavedReport.select().where(SavedReport.template.is_null(False))} == set(
        templates.TEMPLATES)
    user, grant, owners = grant_of("admin")
    got = {}
    for report in SavedReport.select().where(SavedReport.template.is_null(False)):
        spec = parse(report.spec_dict, grant, TODAY)
        result = reportbuilder.run(spec, owners)
        got[report.template] = (result.rows, charts.kind(result))
    assert got["sales_funnel"] == ([("潜在客户", 1), ("意向客户", 1), ("成交客户", 2)], "funnel")
    assert got["high_value"] == ([("A 客户A", 600.0, 3, 5000.0)], "bar")
    assert got["industry_mix"] == ([("互联网", 2, 1000.0), ("制造", 1, 50.5), ("未填写", 1, 0.0)], "pie")
    assert got["monthly_activity"] == ([("2026-01", 1, 2, 300.0), ("2026-03", 2, 2, 350.5), ("2026-06", 1, 1, 400.0)],
                                       "line")
    # 24 months back from 2026-06-30 starts 2024-07-01: C's order of 2025-05-01 counts; 650.50 / 4 rounds half up
    assert got["quarterly_revenue"] == ([("2025-Q2", 1000.0, 1, 1000.0), ("2026-Q1", 650.5, 4, 162.63),
                                         ("2026-Q2", 400.0, 1, 400.0)], "line")
    assert charts.png(reportbuilder.run(parse(templates.TEMPLATES["industry_mix"][2], grant, TODAY), owners))[:4] == \
        b"\x89PNG"


def test_saving_is_owned_validated_and_audited(ctx):
    user, grant, owners = grant_of("sales1")
    spec = {"rows": ["industry"], "measures": ["customers"], "period": LAST_12}
    with pytest.raises(SpecError) as refused:
        saved.save(user, grant, "", {"rows": []}, TODAY)
    assert "请填写报表名称" in str(refused.value) and "请至少选择一个行维度" in str(refused.value)
    report = saved.save(user, grant, "我的行业", spec, TODAY)
    assert AuditLog.select().where((AuditLog.model == "customreport") & (AuditLog.action == "create")
                                   & (AuditLog.record_id == str(report.id))).count() == 1
    other, other_grant, _ = grant_of("sales2")
    assert saved.get_visible(report.id, other) is None  # private
    with pytest.raises(SpecError):
        saved.delete(other, other_grant, report)
    saved.delete(user, grant, report)
    assert SavedReport.get_or_none(SavedReport.id == report.id) is None
    assert AuditLog.select().where((AuditLog.model == "customreport") & (AuditLog.action == "delete")
                                   & (AuditLog.record_id == str(report.id))).count() == 1


def test_only_ones_own_shared_or_template_reports_can_be_run_or_subscribed(ctx, tmp_path, monkeypatch):
    """A private saved report is its owner's: another person can neither subscribe to it nor start a run of it
    by its number (the same message as for a missing one); a shared one and a template they can.  A
    subscription's recipients are not asked: each run is computed in the recipient's own scope."""
    import reporting
    import subscriptions
    from subscriptions.validation import SubscriptionError

    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    owner, owner_grant, _ = grant_of("sales1")
    spec = {"rows": ["industry"], "measures": ["customers"], "period": LAST_12}
    private = saved.save(owner, owner_grant, "我的私有报表", spec, TODAY)
    shared = saved.save(owner, owner_grant, "我的共享报表", spec, TODAY, shared=True)
    template = SavedReport.select().where(SavedReport.template.is_null(False)).first()
    other = User.get(User.username == "sales2")
    fields = {"name": "每周行业", "report": "custom", "schedule_kind": "weekly", "weekday": 1, "time": "08:00",
              "emails": "经理 <boss@example.com>"}
    before = (models.Subscription.select().count(), models.ReportRun.select().count())
    for report_id in (private.id, 999999):
        with pytest.raises(SubscriptionError) as refused:
            subscriptions.create(other, parameters={"report_id": report_id}, **fields)
        assert "私有报表" in refused.value.errors["parameters"]
        with pytest.raises(reporting.ReportError, match="私有报表"):
            reporting.runner.queue_run("custom", {"report_id": report_id}, user=other, asked=True)
    assert (models.Subscription.select().count(), models.ReportRun.select().count()) == before
    for report in (shared, template):
        subscriptions.create(other, parameters={"report_id": report.id}, **fields)
        reporting.runner.queue_run("custom", {"report_id": report.id}, user=other, asked=True)
    subscriptions.create(owner, parameters={"report_id": private.id}, **fields)  # its owner, to another recipient
    assert models.Subscription.select().count() == before[0] + 3


def test_a_saved_report_is_a_registered_report_computed_as_each_recipient(app, ctx, tmp_path, monkeypatch):
    """The registry's `custom` report runs a saved report with the runner's scope: a rep's run lists only their
    customers, 客服专员's leaves the money out and says so; the mail carries the key numbers and the chart."""
    import delivery
    import reporting

    monkeypatch.setattr(reporting.runner, "OUT_DIR", str(tmp_path / "reports_out"))
    admin, admin_grant, _ = grant_of("admin")
    report = saved.save(admin, admin_grant, "客户消费清单", {"rows": ["customer"], "measures": ["revenue", "orders"],
                                                          "period": LAST_12, "limit": 10}, TODAY, shared=True)
    users = {u.username: u for u in User.select()}
    config = {"DATABASE_URL": app.config["DATABASE_URL"], "FIELD_KEY": app.config["FIELD_KEY"]}
    run = reporting.run_report("custom", {"report_id": report.id, "as_of": TODAY.isoformat()}, user=users["sales1"],
                               config=config)
    assert run.status == "success", (run.error_name, run.error)
    assert run.params["viewer_role"] == "sales" and run.params["owner_ids"] == [users["sales1"].id]
    with open(run.html_path, encoding="utf-8") as handle:
        rep = handle.read()
    assert "A 客户A" in rep and "¥600.00" in rep and "B 客户B" in rep and "¥50.50" in rep
    assert "C 客户C" not in rep and "¥400.00" not in rep  # sales2's customer
    # the run's workbook: its table, and the rows of its customers the kernel handed on as 明细 (not in the page)
    from openpyxl import load_workbook

    from exports import notebook

    data, document = notebook.run_xlsx(run)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", "明细"] and document.row_count == 2 + 2 and document.title == "客户消费清单"
    assert list(book["明细"].iter_rows(values_only=True)) == [
        ("客户编号", "客户名称", "消费额", "订单数"), ("A", "客户A", 600, 3), ("B", "客户B", 50.5, 1)]
    assert ("A 客户A", 600, 3) in list(book["汇总"].iter_rows(values_only=True))
    assert "每位客户的明细（2 行）" in rep
    # the same computation as 客服专员 (what the kernel does with viewer_role="service"): no money, said so
    service = reportbuilder.delivery.compute(report.id, "service", None, TODAY)
    assert service.left_out == ["消费额"] and service.result.columns == ["客户", "订单数"]
    assert ("C 客户C", 1) in service.result.rows
    runs = {"sales1": (run, rep)}
    message = delivery.compose(runs["sales1"][0], ["sales1@example.com"], "报表 <reports@example.com>")
    body = next(part for part in message.walk() if part.get_content_type() == "text/html").get_content()
    assert "A 客户A" in body and "订单数 3" in body and "cid:" in body
    assert message["Subject"] == f"【客户消费清单】报表 {TODAY.isoformat()}"  # the saved report's name
    assert any(part.get_content_type() == "image/png" for part in message.walk())


SCREEN = "/admin/reportbuilder/"
INDUSTRY = "run=1&row1=industry&measures=customers&measures=revenue&period=last_12_months"


def test_the_screen_runs_a_report_in_the_viewers_scope(login):
    page = login("admin").get(SCREEN + "?" + INDUSTRY)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "¥1,000.00" in text and "¥50.50" in text and 'id="rb-chart"' in text
    rep = login("sales").get(SCREEN + "?" + INDUSTRY).get_data(as_text=True)
    assert "¥600.00" in rep and "¥1,000.00" not in rep  # sales1's customers only


def db(app):
    """Reads between requests in an app context of their own: a context held across requests would share its `g`
    (the logged-in user, the grant) with them."""
    return app.app_context()


def test_the_screen_offers_service_no_money_and_refuses_a_crafted_request(app, login):
    service = login("service")
    page = service.get(SCREEN).get_data(as_text=True)
    assert 'value="customers"' in page and 'value="revenue"' not in page and 'value="ltv"' not in page
    with db(app):
        before = AuditLog.select().count()
    refused = service.get(SCREEN + "?" + INDUSTRY)
    assert refused.status_code == 400 and "您的角色不能查看指标“消费额”" in refused.get_data(as_text=True)
    token = service.csrf_token("/password")  # the session's token (service has no form on this screen)
    crafted = service.post(SCREEN + "export.csv", data={"csrf_token": token, "row1": "industry", "measures": "revenue"})
    with db(app):
        assert crafted.status_code == 302 and AuditLog.select().count() == before  # no export, nothing written


def test_save_open_export_and_delete_from_the_screen(app, login):
    manager = login("manager")
    form = {"row1": "order_month", "measures": ["customers", "revenue"], "period": "last_12_months", "chart": "line"}
    saved_page = manager.submit(SCREEN + "save", {**form, "name": "月度消费"}, form_url=SCREEN + "?" + INDUSTRY)
    with db(app):
        report = SavedReport.get(SavedReport.name == "月度消费")
    assert saved_page.status_code == 302 and saved_page.location.endswith(f"report={report.id}")
    opened = manager.get(SCREEN + f"?report={report.id}").get_data(as_text=True)
    assert "2026-03" in opened and "¥350.50" in opened and "订阅此报表" in opened and "p.report_id" in opened
    exported = manager.submit(SCREEN + "export.csv", form, form_url=SCREEN + "?" + INDUSTRY)
    lines = exported.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines == ["下单月份,客户数,消费额", "2026-01,1,300.0", "2026-03,2,350.5", "2026-06,1,400.0"]
    pdf = manager.submit(SCREEN + "export.pdf", {**form, "title": "月度消费"}, form_url=SCREEN + "?" + INDUSTRY)
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-" and pdf.mimetype == "application/pdf"
    with db(app):
        entries = list(AuditLog.select().where((AuditLog.model == "customreport") & (AuditLog.action == "export"))
                       .order_by(AuditLog.id))
    assert [(e.rows, e.username, json.loads(e.changes)["format"]) for e in entries] == [
        (3, "manager", "csv"), (3, "manager", "pdf")]
    assert login("sales").get(SCREEN + f"?report={report.id}").status_code == 302  # private: not sales1's
    subscribe = manager.get(f"/admin/subscription/new/?report=custom&name=月度消费&p.report_id={report.id}")
    assert f"report_id={report.id}" in subscribe.get_data(as_text=True)
    deleted = manager.submit(SCREEN + "delete", {"report": report.id}, form_url=SCREEN + "?" + INDUSTRY,
                             follow_redirects=True)
    assert "已删除报表“月度消费”" in deleted.get_data(as_text=True)
    with db(app):
        assert SavedReport.get_or_none(SavedReport.id == report.id) is None
