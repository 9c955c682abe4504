"""销售漏斗: numbers checked against a small history computed by hand (fixed dates), per role scope, filters,
the screen and its refusals.  The definitions are in docs/funnel.md.

Period 2026-04-01 .. 2026-06-30.  Customers (owner; created; status changes):

    a  sales1  04-05 潜在; 04-20 意向; 05-10 成交
    b  sales1  04-10 潜在; 06-01 成交 (skips 意向)
    c  sales1  05-01 潜在
    d  sales2  06-15 潜在; 07-05 意向 (after the period)
    e  sales2  02-01 潜在 (before); 04-15 意向
    f  sales2  2025-10-01 潜在; 2025-12-01 成交; 05-31 流失
    g  sales3  01-01 潜在; 03-01 意向; 04-02 成交; 06-20 流失
    h  sales3  08-01 潜在 (after the period: not counted)
    i  sales3  意向, created 04-03 with no status history (older data)

entered in the period:  潜在 a b c d = 4;  意向 a e i = 3;  成交 a b g = 3;  流失 f g = 2
at the end (06-30):     潜在 c d = 2;  意向 e i = 2;  成交 a b = 2;  流失 f g = 2
潜在 → 意向: of a b c d, a and b (b signed at once) = 2 / 4;  意向 → 成交: of a e i, a = 1 / 3
成交 → 流失: of a b g, g = 1 / 3 (f signed before the period);  潜在 → 成交: a b = 2 / 4
"""
import datetime
import re

import pytest

from models import Customer, StatusChange, User
from pipeline import funnel

START, END = datetime.date(2026, 4, 1), datetime.date(2026, 6, 30)
HISTORY = {
    "a": ("sales1", "2026-04-05", [("2026-04-20", "意向客户"), ("2026-05-10", "成交客户")]),
    "b": ("sales1", "2026-04-10", [("2026-06-01", "成交客户")]),
    "c": ("sales1", "2026-05-01", []),
    "d": ("sales2", "2026-06-15", [("2026-07-05", "意向客户")]),
    "e": ("sales2", "2026-02-01", [("2026-04-15", "意向客户")]),
    "f": ("sales2", "2025-10-01", [("2025-12-01", "成交客户"), ("2026-05-31", "流失客户")]),
    "g": ("sales3", "2026-01-01", [("2026-03-01", "意向客户"), ("2026-04-02", "成交客户"), ("2026-06-20", "流失客户")]),
    "h": ("sales3", "2026-08-01", []),
}


def _at(day):
    return datetime.datetime.fromisoformat(day + " 10:00")


@pytest.fixture
def book(app, make_customer, users):
    """The customers of the docstring, by letter."""
    out = {}
    for letter, (owner, created, changes) in HISTORY.items():
        final = changes[-1][1] if changes else "潜在客户"
        customer = make_customer(owner=owner, name=f"漏斗{letter}", status=final, created_at=_at(created),
                                 region="华东" if letter in "ab" else "华北")
        StatusChange.create(customer=customer, from_status=None, to_status="潜在客户", reason="新建客户",
                            at=_at(created))
        status = "潜在客户"
        for day, to in changes:
            StatusChange.create(customer=customer, from_status=status, to_status=to, reason="手动", at=_at(day))
            status = to
        out[letter] = customer
    out["i"] = make_customer(owner="sales3", name="漏斗i", status="意向客户", created_at=_at("2026-04-03"))
    return out


def numbers(result):
    return ({s.status: (s.at_end, s.entered) for s in result.stages},
            [(c.from_status, c.to_status, c.entered, c.reached) for c in result.conversions + [result.overall]],
            result.chart)


def test_counts_match_the_hand_computed_funnel(book):
    stages, steps, chart = numbers(funnel.counts(Customer.select(), START, END))
    assert stages == {"潜在客户": (2, 4), "意向客户": (2, 3), "成交客户": (2, 3), "流失客户": (2, 2)}
    assert steps == [("潜在客户", "意向客户", 4, 2), ("意向客户", "成交客户", 3, 1), ("成交客户", "流失客户", 3, 1),
                     ("潜在客户", "成交客户", 4, 2)]
    assert chart == [("潜在客户", 4), ("意向客户", 2), ("成交客户", 2)]
    result = funnel.counts(Customer.select(), START, END)
    assert result.conversions[0].rate == 0.5 and result.as_dict()["conversions"][1]["rate"] == pytest.approx(1 / 3)


def test_a_narrower_period_and_a_query_of_some_customers(book):
    stages, steps, _ = numbers(funnel.counts(Customer.select(), datetime.date(2026, 5, 1), datetime.date(2026, 5, 31)))
    # May: c enters 潜在; a enters 成交 (05-10); f is lost (05-31)
    assert stages == {"潜在客户": (2, 1), "意向客户": (2, 0), "成交客户": (2, 1), "流失客户": (1, 1)}
    assert steps[0] == ("潜在客户", "意向客户", 1, 0) and steps[2] == ("成交客户", "流失客户", 1, 0)
    east = Customer.select().where(Customer.region == "华东")
    stages, steps, chart = numbers(funnel.counts(east, START, END))
    assert stages["成交客户"] == (2, 2) and chart == [("潜在客户", 2), ("意向客户", 2), ("成交客户", 2)]


def test_end_before_start_is_refused(book):
    with pytest.raises(ValueError, match="结束日期不能早于开始日期"):
        funnel.counts(Customer.select(), END, START)


def page_numbers(page):
    html = page.get_data(as_text=True)
    at_end = dict(re.findall(r'data-stage="([^"]+)"><td>[^<]+</td>\s*<td class="num at-end" data-count="(\d+)"', html))
    steps = re.findall(r'data-step="([^"]+)"[^>]*>\s*<td>[^<]*</td><td>[^<]*</td>\s*'
                       r'<td class="num entered" data-count="(\d+)">[^<]*</td>\s*<td class="num reached" data-count="(\d+)"',
                       html)
    return {k: int(v) for k, v in at_end.items()}, {s: (int(e), int(r)) for s, e, r in steps}


PERIOD = "?start=2026-04-01&end=2026-06-30"


def test_scope_per_role(book, login):
    admin = login("admin").get("/admin/funnel/" + PERIOD)
    assert admin.status_code == 200
    assert page_numbers(admin)[0] == {"潜在客户": 2, "意向客户": 2, "成交客户": 2, "流失客户": 2}
    # manager: team sales1 + sales2 -> a..f
    manager, steps = page_numbers(login("manager").get("/admin/funnel/" + PERIOD))
    assert manager == {"潜在客户": 2, "意向客户": 1, "成交客户": 2, "流失客户": 1}
    assert steps["潜在客户>意向客户"] == (4, 2) and steps["成交客户>流失客户"] == (2, 0)
    # sales1: a, b, c
    rep_page = login("sales").get("/admin/funnel/" + PERIOD)
    rep, steps = page_numbers(rep_page)
    assert rep == {"潜在客户": 1, "意向客户": 0, "成交客户": 2, "流失客户": 0}
    assert steps["潜在客户>意向客户"] == (3, 2) and steps["意向客户>成交客户"] == (1, 1)
    assert 'id="funnel-team"' not in rep_page.get_data(as_text=True)  # a rep has no team to choose
    # manager2: sales3's g, h, i
    other, _ = page_numbers(login(username="manager2").get("/admin/funnel/" + PERIOD))
    assert other == {"潜在客户": 0, "意向客户": 1, "成交客户": 0, "流失客户": 1}
    assert login("service").get("/admin/funnel/" + PERIOD).status_code == 403


def test_filters_by_owner_team_region_and_industry(book, login, users):
    admin = login("admin")
    by_owner, _ = page_numbers(admin.get(f"/admin/funnel/{PERIOD}&owner={users['sales2'].id}"))
    assert by_owner == {"潜在客户": 1, "意向客户": 1, "成交客户": 0, "流失客户": 1}  # d, e, f
    manager2 = User.get(User.username == "manager2")
    by_team, _ = page_numbers(admin.get(f"/admin/funnel/{PERIOD}&team={manager2.id}"))
    assert by_team == {"潜在客户": 0, "意向客户": 1, "成交客户": 0, "流失客户": 1}  # g, i (h is after)
    by_region, _ = page_numbers(admin.get(f"/admin/funnel/{PERIOD}&region=华东"))
    assert by_region == {"潜在客户": 0, "意向客户": 0, "成交客户": 2, "流失客户": 0}
    by_industry, _ = page_numbers(admin.get(f"/admin/funnel/{PERIOD}&industry=互联网&region=华北"))
    assert sum(by_industry.values()) == 6


@pytest.mark.parametrize("query, message", [
    ("?start=2026-13-01", "日期格式应为 YYYY-MM-DD：2026-13-01"),
    ("?start=2026-06-30&end=2026-04-01", "结束日期不能早于开始日期"),
    ("?region=火星", "所属地区“火星”不在列表中"),
])
def test_bad_input_gets_a_chinese_message(book, login, query, message):
    page = login("admin").get("/admin/funnel/" + query)
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    assert 'id="funnel-chart"' not in page.get_data(as_text=True)


def test_a_rep_cannot_filter_by_someone_elses_customers(book, login, users):
    page = login("sales").get(f"/admin/funnel/{PERIOD}&owner={users['sales2'].id}")
    assert page.status_code == 400 and "所选负责人不在您的数据范围内" in page.get_data(as_text=True)
    page = login("manager").get(f"/admin/funnel/{PERIOD}&team={User.get(User.username == 'manager2').id}")
    assert page.status_code == 400 and "所选团队不在您的数据范围内" in page.get_data(as_text=True)


def test_the_page_draws_with_the_vendored_echarts(book, login):
    html = login("manager").get("/admin/funnel/" + PERIOD).get_data(as_text=True)
    assert "/static/vendor/echarts/echarts.min.js" in html and "cdn" not in html.lower()
    assert "期间漏斗：2026-04-01 至 2026-06-30" in html


def test_english_interface(book, login):
    client = login("admin")
    client.get("/lang/en")
    html = client.get("/admin/funnel/" + PERIOD).get_data(as_text=True)
    assert "Funnel: where the leads of 2026-04-01 to 2026-06-30 went" in html and "Conversion" in html
    assert "Leads" in html and "Interested" in html  # the chart's names
