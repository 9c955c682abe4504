"""The underlying rows (明细) of a custom report: per dimension kind against a data set computed by hand (fixed
dates), their sums against the summary, the policy (no money for 客服专员, a rep's customers only, the customer
columns' rules), the cap and its note, formula-safe cells; the workbook through the builder's export and through a
saved report's run, opened with openpyxl."""
import datetime
import io
import json
from types import MappingProxyType

import pytest
from openpyxl import load_workbook

import access
import exports
import models
import reportbuilder
import reportbuilder.delivery
from access.grant import Grant
from analytics import engines
from exports import printed as printed_page
from models import AuditLog, Customer, CustomerTag, CustomerValue, Order, Tag, User
from reportbuilder import detail, saved
from reportbuilder.handout import handout, printed
from reportbuilder.spec import parse
from tests.conftest import build_app
from tests.test_report_builder import engines_serving

TODAY = datetime.date(2026, 6, 30)  # last_12_months: 2025-07-01 to 2026-06-30
LAST_12 = {"preset": "last_12_months"}
MONEY = {"消费额", "客单价", "LTV", "LTV（平均）"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Five customers, hand-made (A-D as in test_report_builder.py, and E, whose name could run as a formula):

    A  sales1  互联网 华北 成交客户  orders 2026-01-10 100, 2026-01-20 200, 2026-03-05 300  高价值客户 LTV 5,000  高价值
    B  sales1  制造   华东 意向客户  order 2026-03-07 50.50                                普通客户 LTV 1,000    重点
    C  sales2  互联网 华东 成交客户  orders 2025-05-01 1,000 (before the period), 2026-06-30 23:00 400        高价值
    D  sales2  (no industry)  潜在客户  no orders
    E  sales1  制造   华东 成交客户  name "=1+1", order 2026-04-02 10.00                         高价值, 重点
    """
    application = build_app(tmp_path_factory.mktemp("report-builder-detail"))
    application.config["REPORT_BUILDER_TODAY"] = TODAY
    with application.app_context():
        users = {u.username: u for u in User.select()}

        def customer(code, owner, industry, region, status, name=None):
            return Customer.create(code=code, name=name or f"客户{code}", owner=users[owner], industry=industry,
                                   region=region, status=status, first_contact=datetime.date(2025, 8, 10))

        a = customer("A", "sales1", "互联网", "华北", "成交客户")
        b = customer("B", "sales1", "制造", "华东", "意向客户")
        c = customer("C", "sales2", "互联网", "华东", "成交客户")
        customer("D", "sales2", None, "华北", "潜在客户")
        e = customer("E", "sales1", "制造", "华东", "成交客户", name="=1+1")
        for number, (who, at, amount) in enumerate([
                (a, "2026-01-10 09:00", "100.00"), (a, "2026-01-20 10:00", "200.00"), (a, "2026-03-05 11:00", "300.00"),
                (b, "2026-03-07 12:00", "50.50"), (c, "2025-05-01 08:00", "1000.00"), (c, "2026-06-30 23:00", "400.00"),
                (e, "2026-04-02 15:00", "10.00")]):
            Order.create(customer=who, order_no=f"RD{number:04d}", ordered_at=datetime.datetime.fromisoformat(at),
                         amount=amount)
        now = datetime.datetime(2026, 6, 30, 3, 0)
        CustomerValue.create(customer=a, annual_spend=600, orders_12m=3, ltv=5000, tier="高价值客户", as_of=TODAY,
                             refreshed_at=now)
        CustomerValue.create(customer=b, annual_spend=50.5, orders_12m=1, ltv=1000, tier="普通客户", as_of=TODAY,
                             refreshed_at=now)
        high = Tag.create(name="高价值", category="价值", source="rule")
        key = Tag.create(name="重点", category="价值")
        for who, tag in ((a, high), (c, high), (e, high), (b, key), (e, key)):
            CustomerTag.create(customer=who, tag=tag)
    models.db.close()
    yield application
    models.db.close()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield




def scope(username):
    user = User.get(User.username == username)
    grant = access.grant_for(user)
    return grant, access.owner_ids(user, grant)


def both(spec_data, username="admin", column_access=None, cap=None):
    """(summary Result, Detail) of `spec_data` as `username`, on every engine serving the database (all agree)."""
    grant, owners = scope(username)
    spec = parse(spec_data, grant, TODAY)
    answers = []
    for name in engines_serving():
        with engines.using(name):
            result = reportbuilder.run(spec, owners)
            rows = detail.fetch(spec, owners, column_access if column_access is not None
                                else detail.column_access(grant), detail.shown_groups(result), cap=cap)
        answers.append((result, rows))
    first = answers[0]
    assert all((r.rows, d.columns, d.rows, d.total) == (first[0].rows, first[1].columns, first[1].rows,
                                                         first[1].total) for r, d in answers), answers
    return first


def headers(rows):
    return [label for _, label, _ in rows.columns]


def sums_match(result, rows, width):
    """Every additive measure of the summary is the sum of its group's detail rows; 客户数 is their number."""
    at = {label: number for number, label in enumerate(headers(rows))}
    dims = list(range(2, 2 + width))
    for summary_row in result.rows:
        group = [r for r in rows.rows if tuple(r[i] for i in dims) == summary_row[:width]]
        for label, value in zip(result.columns[width:], summary_row[width:]):
            if label == "客户数":
                assert len(group) == value, (summary_row, group)
            elif label in ("消费额", "订单数"):
                assert sum(r[at[label]] for r in group) == pytest.approx(value), (label, summary_row, group)


def test_a_customer_attribute_one_row_per_customer_with_their_own_figures(ctx):
    result, rows = both({"rows": ["industry"], "measures": ["customers", "revenue", "orders", "aov", "repeat_rate"],
                         "period": LAST_12})
    assert headers(rows) == ["客户编号", "客户名称", "行业", "消费额", "订单数", "客单价"]  # 复购率: its 订单数
    assert rows.rows == [["A", "客户A", "互联网", 600.0, 3, 200.0], ["C", "客户C", "互联网", 400.0, 1, 400.0],
                         ["B", "客户B", "制造", 50.5, 1, 50.5], ["E", "=1+1", "制造", 10.0, 1, 10.0],
                         ["D", "客户D", "未填写", 0.0, 0, None]]  # D counts in 客户数 without orders
    assert (rows.total, rows.cut) == (5, False)
    sums_match(result, rows, 1)
    # order measures only: the customers who ordered in the period, the others adding nothing
    _, ordered = both({"rows": ["industry"], "measures": ["revenue"], "period": LAST_12})
    assert [r[0] for r in ordered.rows] == ["A", "C", "B", "E"]
    # tiers in their order, each customer's own LTV (the summary's LTV is their average)
    result, tiers = both({"rows": ["tier"], "measures": ["customers", "ltv"], "period": LAST_12})
    assert headers(tiers) == ["客户编号", "客户名称", "客户分层", "LTV"]
    assert [r[0:1] + r[2:] for r in tiers.rows] == [["A", "高价值客户", 5000.0], ["B", "普通客户", 1000.0],
                                                    ["C", "未分层", None], ["D", "未分层", None], ["E", "未分层", None]]
    sums_match(result, tiers, 1)


def test_an_order_month_one_row_per_customer_and_month(ctx):
    result, rows = both({"rows": ["order_month"], "measures": ["customers", "orders", "revenue"], "period": LAST_12})
    assert headers(rows) == ["客户编号", "客户名称", "下单月份", "消费额", "订单数"]
    assert [r[0:1] + r[2:] for r in rows.rows] == [
        ["A", "2026-01", 300.0, 2], ["A", "2026-03", 300.0, 1], ["B", "2026-03", 50.5, 1], ["E", "2026-04", 10.0, 1],
        ["C", "2026-06", 400.0, 1]]
    sums_match(result, rows, 1)
    result, quarters = both({"rows": ["order_quarter", "region"], "measures": ["orders"], "period": {"preset": "all"}})
    assert [r[0:1] + r[2:] for r in quarters.rows] == [
        ["C", "2025-Q2", "华东", 1], ["B", "2026-Q1", "华东", 1], ["A", "2026-Q1", "华北", 3],
        ["C", "2026-Q2", "华东", 1], ["E", "2026-Q2", "华东", 1]]
    sums_match(result, quarters, 2)


def test_a_tag_one_row_per_customer_and_tag(ctx):
    result, rows = both({"rows": ["tag"], "measures": ["customers", "revenue"], "period": LAST_12})
    assert [r[0:1] + r[2:] for r in rows.rows] == [
        ["A", "高价值", 600.0], ["C", "高价值", 400.0], ["E", "高价值", 10.0], ["B", "重点", 50.5], ["E", "重点", 10.0]]
    assert result.rows == [("高价值", 3, 1010.0), ("重点", 2, 60.5)]
    sums_match(result, rows, 1)


def test_a_limited_report_lists_the_customers_of_its_groups_only(ctx):
    result, rows = both({"rows": ["industry"], "measures": ["revenue"], "period": LAST_12, "limit": 1})
    assert result.rows == [("互联网", 1000.0)] and [r[0] for r in rows.rows] == ["A", "C"]
    # a per-customer list: the customers it shows, not a second 客户 column
    result, top = both({"rows": ["customer"], "measures": ["revenue", "ltv"], "period": LAST_12, "limit": 2})
    assert [r[0] for r in result.rows] == ["A 客户A", "C 客户C"]
    assert headers(top) == ["客户编号", "客户名称", "消费额", "LTV"]
    assert top.rows == [["A", "客户A", 600.0, 5000.0], ["C", "客户C", 400.0, None]]


def test_policy_rep_scope_service_without_money_and_the_customer_columns_rules(ctx):
    spec = {"rows": ["industry"], "measures": ["customers", "orders"], "period": LAST_12}
    _, rep = both({**spec, "measures": ["customers", "revenue"]}, "sales1")
    assert [r[0] for r in rep.rows] == ["B", "E", "A"]  # sales1's customers only (制造 has two)
    _, service = both(spec, "service")
    assert headers(service) == ["客户编号", "客户名称", "行业", "订单数"] and service.total == 5
    assert not MONEY & set(headers(service))
    masked = Grant(role="x", label="x", row_scope="all", version="1",
                   columns=MappingProxyType({("customer", "name"): "masked", ("customer", "code"): "hidden"}))
    assert detail.column_access(masked) == {"name": "masked", "code": "hidden"}
    _, hidden = both(spec, column_access=detail.column_access(masked))
    assert headers(hidden) == ["客户名称", "行业", "订单数"] and hidden.rows[0] == ["客*A", "互联网", 3]


def test_a_cut_list_says_so_on_its_sheet_and_cells_are_formula_safe(ctx):
    result, rows = both({"rows": ["industry"], "measures": ["customers", "revenue"], "period": LAST_12}, cap=2)
    assert (rows.total, len(rows.rows), rows.cut) == (5, 2, True)
    document = handout(result, "行业明细", ["范围：全部"], rows)
    assert document.row_count == 3 + 2
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(document)))
    assert book.sheetnames == ["汇总", "明细"]
    sheet = list(book["明细"].iter_rows(values_only=True))
    assert sheet[0][0] == "明细共 5 行，此处列出前 2 行（单表上限 2 行）；请增加筛选条件或缩短期间后再导出，以得到完整明细"
    assert sheet[2] == ("客户编号", "客户名称", "行业", "消费额")
    assert sheet[3:] == [("A", "客户A", "互联网", 600), ("C", "客户C", "互联网", 400)]
    assert book["明细"].freeze_panes == "A4" and book["明细"].auto_filter.ref == "A3:D5"
    # columns sized to their values (¥1,000.00) on both sheets: a write-only sheet takes widths only before its rows
    assert book["汇总"].column_dimensions["C"].width == 11 and book["明细"].column_dimensions["D"].customWidth
    _, whole = both({"rows": ["industry"], "measures": ["revenue"], "period": LAST_12})
    cells = list(load_workbook(io.BytesIO(exports.xlsx_bytes(handout(result, "t", (), whole))))["明细"]
                 .iter_rows(values_only=True))
    assert cells[0] == ("客户编号", "客户名称", "行业", "消费额") and ("E", "'=1+1", "制造", 10) in cells
    # the PDF prints the summary and chart, and says where the rows are
    page = printed_page.handout_html(printed(result, "行业明细", ["范围：全部"]))
    assert "PDF 只印汇总与图表" in page and "客户A" not in page


def test_the_builders_excel_carries_the_rows_audited_with_them(app, login):
    manager = login("manager")  # team: sales1 and sales2, export right
    form = {"row1": "tag", "measures": ["customers", "revenue"], "period": "last_12_months", "title": "标签消费"}
    response = manager.submit("/admin/reportbuilder/export.xlsx", form,
                              form_url="/admin/reportbuilder/?run=1&row1=tag&measures=customers")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["汇总", "明细"]
    summary = list(book["汇总"].iter_rows(values_only=True))
    assert summary[0][0] == "标签消费" and ("标签", "客户数", "消费额") in summary
    rows = list(book["明细"].iter_rows(values_only=True))
    assert rows[0] == ("客户编号", "客户名称", "标签", "消费额") and len(rows) == 1 + 5
    assert ("E", "'=1+1", "重点", 10) in rows and book["明细"]["D2"].number_format == '"¥"#,##0.00'
    with app.app_context():
        entry = AuditLog.select().where((AuditLog.model == "customreport") & (AuditLog.action == "export")).get()
    assert (entry.rows, json.loads(entry.changes)["format"]) == (2 + 5, "xlsx")


def test_a_saved_reports_delivery_offers_the_rows_as_its_recipient_may_see_them(ctx):
    """What the `custom` report's kernel does for 客服专员 (scope everyone's, no money; tests/test_report_builder.py
    runs the kernel itself for a rep): the money measure is left out of the summary and of the 明细, in both sheets."""
    from exports import notebook

    owner = User.get(User.username == "admin")
    report = saved.save(owner, access.grant_for(owner), "行业订单", {
        "rows": ["industry"], "measures": ["customers", "revenue", "orders"], "period": LAST_12}, TODAY, shared=True)
    delivered = reportbuilder.delivery.compute(report.id, "service", None, TODAY)
    assert delivered.left_out == ["消费额"]
    rows = reportbuilder.delivery.detail_rows(delivered, None, {})
    document = handout(delivered.result, report.name, (), rows)
    # as the kernel hands it on and the run's workbook reads it back
    table = document.detail
    bundle = {notebook.DETAIL_MIME: {"title": table.title, "notes": table.notes,
                                     "columns": [[c.key, c.label, c.kind] for c in table.columns], "rows": table.rows}}
    node = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": bundle}]}]}
    read_back = notebook.run_detail(node)
    assert (read_back.columns, read_back.rows) == (table.columns, table.rows)
    book = load_workbook(io.BytesIO(exports.xlsx_bytes(document)))
    assert book.sheetnames == ["汇总", "明细"]
    texts = {str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v is not None}
    assert not MONEY & texts and "行业" in texts
    assert list(book["明细"].iter_rows(values_only=True)) == [
        ("客户编号", "客户名称", "行业", "订单数"), ("A", "客户A", "互联网", 3), ("C", "客户C", "互联网", 1),
        ("B", "客户B", "制造", 1), ("E", "'=1+1", "制造", 1), ("D", "客户D", "未填写", 0)]
    assert document.row_count == 3 + 5
    # a scoped run hides the figures of small groups: their customers are not listed either
    rep = User.get(User.username == "sales1")
    small = reportbuilder.delivery.compute(report.id, "sales", [rep.id], TODAY, suppress_below=2)
    assert small.result.rows == [("制造", 2, 60.5, 2), ("互联网", None, None, None)]
    assert [r[0] for r in reportbuilder.delivery.detail_rows(small, [rep.id], {}).rows] == ["B", "E"]
