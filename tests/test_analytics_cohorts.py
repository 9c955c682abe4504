"""Cohort activity and second-purchase gaps counted in SQL, and the pandas built on them."""
import datetime
import math

import pandas as pd
import pytest

from analytics import cohorts, queries

D = datetime.datetime
AS_OF = datetime.date(2024, 3, 31)
JAN, FEB, MAR = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")


@pytest.fixture
def three_cohorts(make_customer, make_order):
    """January: 4 customers, 2 back in February, 1 in March.  February: 2, none back.  March: 1."""
    orders = {
        "j1": [D(2024, 1, 31, 23, 30), D(2024, 2, 3), D(2024, 2, 20), D(2024, 3, 5)],
        "j2": [D(2024, 1, 2), D(2024, 2, 29, 23)],
        "j3": [D(2024, 1, 15), D(2024, 4, 1)],  # April is after AS_OF
        "j4": [D(2024, 1, 20)],
        "f1": [D(2024, 2, 1)],
        "f2": [D(2024, 2, 10), D(2024, 2, 11)],
        "m1": [D(2024, 3, 31, 12)],
    }
    for times in orders.values():
        customer = make_customer()
        for at in times:
            make_order(customer, ordered_at=at)


def test_cohort_activity(three_cohorts):
    activity = queries.cohort_activity(AS_OF)
    assert list(activity.itertuples(index=False, name=None)) == [
        (JAN, JAN, 4), (JAN, FEB, 2), (JAN, MAR, 1), (FEB, FEB, 2), (MAR, MAR, 1),
    ]


def test_retention_matrix(three_cohorts):
    matrix = cohorts.retention_matrix(queries.cohort_activity(AS_OF))
    assert list(matrix.index) == [JAN, FEB, MAR]
    assert list(matrix.columns) == ["cohort_size", 0, 1, 2]
    assert list(matrix["cohort_size"]) == [4, 2, 1]
    rows = matrix[[0, 1, 2]].values.tolist()
    assert rows[0] == [1.0, 0.5, 0.25]
    assert rows[1][:2] == [1.0, 0.0] and math.isnan(rows[1][2])  # nobody back in March; April unseen
    assert rows[2][0] == 1.0 and math.isnan(rows[2][1]) and math.isnan(rows[2][2])


def test_retention_matrix_empty(app):
    assert cohorts.retention_matrix(queries.cohort_activity(AS_OF)).empty


@pytest.fixture
def second_purchases(make_customer, make_order):
    orders = [
        [D(2024, 1, 1, 10), D(2024, 1, 1, 18), D(2024, 1, 8)],  # same day is not a second purchase: 7
        [D(2024, 1, 10), D(2024, 1, 17), D(2024, 2, 20)],  # 7
        [D(2024, 2, 1, 9), D(2024, 3, 2, 8)],  # leap February: 30
        [D(2024, 3, 1)],  # no second purchase
        [D(2024, 3, 1), D(2024, 4, 5)],  # second one after AS_OF
    ]
    for times in orders:
        customer = make_customer()
        for at in times:
            make_order(customer, ordered_at=at)


def test_second_purchase_gaps(second_purchases):
    gaps = queries.second_purchase_gaps(AS_OF)
    assert gaps.to_dict("list") == {"days": [7, 30], "customers": [2, 1]}
    table = cohorts.time_to_second_purchase(gaps)
    assert list(table.index) == [7, 30]
    assert list(table["share"]) == pytest.approx([2 / 3, 1 / 3])
    assert list(table["cumulative_share"]) == pytest.approx([2 / 3, 1.0])
    assert cohorts.median_days_to_second_purchase(gaps) == 7


def test_second_purchase_gaps_start_filter(second_purchases):
    # From February on, the third customer's first day is 02-01 still; the second one's is 02-20 alone.
    gaps = queries.second_purchase_gaps(AS_OF, start=datetime.date(2024, 2, 1))
    assert gaps.to_dict("list") == {"days": [30], "customers": [1]}
