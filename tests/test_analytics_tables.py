"""analytics.tables: report tables as a business reader sees them."""
import re

import numpy as np
import pandas as pd

from analytics import privacy, tables


def _headers(table):
    return re.findall(r"<th>(.*?)</th>", table._repr_html_())


def _rows(table):
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table._repr_html_())][1:]


def segment_table():
    return pd.DataFrame(
        {"customers": [1200, 3], "revenue": [1234567.891, 50.0], "revenue_share": [0.23456, 0.0001],
         "avg_order_value": [88.456, np.nan]},
        index=pd.Index(["重要价值客户", "一般挽留客户"], name="segment"))


def test_labels_money_percent_counts_and_the_row_label():
    shown = tables.show(segment_table(), labels={"customers": "客户数", "revenue": "收入", "revenue_share": "收入占比",
                                                 "avg_order_value": "客单价"},
                        money=["revenue", "avg_order_value"], percent=["revenue_share"], counts=["customers"],
                        decimals={"avg_order_value": 2}, currency="¥", index_label="分群")
    assert _headers(shown) == ["分群", "客户数", "收入", "收入占比", "客单价"]
    assert _rows(shown) == [["重要价值客户", "1,200", "¥1,234,568", "23.5%", "¥88.46"],
                            ["一般挽留客户", "3", "¥50", "0.0%", "—"]]
    assert "segment" not in shown._repr_html_()  # the index's raw name is not a header row


def test_a_meaningless_index_is_left_out():
    frame = pd.DataFrame({"code": ["C001", "C002"], "clv": [1500.5, 20.25]},
                         index=pd.Index([17, 42], name="customer_id"))
    shown = tables.show(frame, labels={"code": "客户编号", "clv": "CLV"}, money=["clv"], currency="US$")
    html = shown._repr_html_()
    assert _headers(shown) == ["客户编号", "CLV"]
    assert "customer_id" not in html and ">17<" not in html and ">42<" not in html
    assert _rows(shown) == [["C001", "US$1,500"], ["C002", "US$20"]]
    ranged = tables.show(pd.DataFrame({"模型": ["BG/NBD"], "估计值": ["0.243"]}))
    assert _headers(ranged) == ["模型", "估计值"] and _rows(ranged) == [["BG/NBD", "0.243"]]


def test_missing_values_show_a_dash_and_suppressed_cells_stay_as_they_are():
    frame = pd.DataFrame({"customers": [2, 10, None], "revenue": [50.0, 900.0, np.nan],
                          "share": [0.1, pd.NA, 0.5]}, index=pd.RangeIndex(3))
    suppressed = privacy.suppress_small(frame, "customers", 5)
    shown = tables.show(suppressed, labels={"customers": "客户数", "revenue": "收入", "share": "占比"},
                        money=["revenue"], percent=["share"], counts=["customers"])
    html = shown._repr_html_()
    assert "nan" not in html.lower() and "&lt;NA&gt;" not in html and "None" not in html
    assert _rows(shown)[0] == ["—", "—", "10.0%"]  # the suppressed row (share is text: pd.NA made it object)
    assert _rows(shown)[1] == ["10", "¥900", "—"]


def test_unlisted_numbers_and_dates():
    frame = pd.DataFrame({"ratio": [1.23456, 2.0], "n": [1234, 5], "day": pd.to_datetime(["2024-03-01", "2024-04-01"])})
    shown = tables.show(frame, labels={"ratio": "比值", "n": "人数", "day": "日期"}, decimals={"ratio": 3})
    assert _rows(shown) == [["1.235", "1,234", "2024-03-01"], ["2.000", "5", "2024-04-01"]]
    months = pd.DataFrame({"x": [1]}, index=pd.to_datetime(["2024-03-01"]))
    assert _rows(tables.show(months, labels={"x": "人数"}, index_label="日期")) == [["2024-03-01", "1"]]


def test_negative_money_and_a_series():
    assert tables.money(-1234.4, "¥") == "-¥1,234"
    assert tables.money("—") == "—" and tables.percent(None) == "—" and tables.count(np.int64(12345)) == "12,345"
    series = pd.Series([3, 4], index=pd.Index(["活跃客户", "已流失客户"], name="stage"), name="customers")
    shown = tables.show(series, labels={"customers": "客户数"}, counts=["customers"], index_label="阶段")
    assert _headers(shown) == ["阶段", "客户数"] and _rows(shown) == [["活跃客户", "3"], ["已流失客户", "4"]]


def test_html_is_escaped_and_plain_text_reads_like_the_table():
    shown = tables.show(pd.DataFrame({"name": ["<b>x</b>"]}), labels={"name": "客户名称"})
    assert "<b>x</b>" not in shown._repr_html_() and "&lt;b&gt;" in shown._repr_html_()
    assert "客户名称" in repr(shown) and "<b>x</b>" in repr(shown)


def test_numbers_are_aligned_right_text_left():
    shown = tables.show(segment_table(), labels={"customers": "客户数"}, counts=["customers"], index_label="分群")
    html = shown._repr_html_()
    first_row = re.findall(r"<td([^>]*)>", html)[:2]
    assert "left" in first_row[0] and "right" in first_row[1]
