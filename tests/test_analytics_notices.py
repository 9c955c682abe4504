"""analytics.notices: the sentences a report prints when its parameters leave nothing to show."""
import datetime

from analytics import notices

D = datetime.date


def test_an_as_of_before_any_order():
    assert notices.no_orders(D(2016, 1, 1), D(2019, 1, 1), D(2023, 12, 8)) == (
        "截止日期 2019-01-01 之前没有订单数据，最早的订单在 2023-12-08。本报告其余部分从略。")


def test_a_start_after_as_of():
    assert notices.window(D(2024, 1, 1), D(2024, 6, 30)) is None
    said = notices.no_orders(D(2024, 7, 1), D(2024, 6, 30), D(2023, 1, 1))
    assert said.startswith("起始日期 2024-07-01 晚于截止日期 2024-06-30")


def test_no_orders_at_all_and_none_in_the_window():
    assert notices.no_orders(D(2021, 1, 1), D(2024, 1, 1), None) == notices.EMPTY_SELECTION
    assert "所选范围内没有订单数据" in notices.EMPTY_SELECTION
    assert "最早的订单在 2019-05-01" in notices.no_orders(D(2021, 1, 1), D(2024, 1, 1), D(2019, 5, 1))
