"""RFM scores, segments and migration, on hand-worked examples."""
import datetime

import pandas as pd
import pytest

from analytics import queries, rfm

AS_OF = datetime.date(2024, 6, 30)
# Per customer c0..c9: days since last purchase, purchase days, revenue.
CUSTOMERS = [
    (5, 6, 900), (100, 1, 150), (20, 3, 400), (60, 2, 200), (1, 8, 1000),
    (45, 1, 700), (150, 2, 100), (10, 5, 300), (90, 4, 600), (30, 7, 800),
]
# Worked by hand: rank (ties by customer id), then floor((rank - 1) * 5 / 10) + 1.
EXPECTED_SCORES = [
    (5, 4, 5), (1, 1, 1), (4, 3, 3), (2, 2, 2), (5, 5, 5),
    (3, 1, 4), (1, 2, 1), (4, 4, 2), (2, 3, 3), (3, 5, 4),
]
# Means are 3.0, so 4 and 5 are high.
EXPECTED_SEGMENTS = [
    "重要价值客户", "一般挽留客户", "一般发展客户", "一般挽留客户", "重要价值客户",
    "重要挽留客户", "一般挽留客户", "一般价值客户", "一般挽留客户", "重要保持客户",
]


@pytest.fixture
def ten(make_customer, make_order):
    """c0..c9 with one order per purchase day: 10.00 each, the rest of the revenue on the last day."""
    ids = []
    for days_ago, purchase_days, revenue in CUSTOMERS:
        customer = make_customer()
        last = datetime.datetime.combine(AS_OF, datetime.time(12)) - datetime.timedelta(days=days_ago)
        for k in range(purchase_days - 1, 0, -1):
            make_order(customer, amount="10.00", ordered_at=last - datetime.timedelta(days=k))
        make_order(customer, amount=f"{revenue - 10 * (purchase_days - 1)}.00", ordered_at=last)
        ids.append(customer.id)
    return ids


def test_scores_and_segments(ten):
    summary = queries.customer_summary(AS_OF)
    scores = rfm.score(summary)
    assert [tuple(scores.loc[i]) for i in ten] == EXPECTED_SCORES
    assert list(rfm.segment(scores).loc[ten]) == EXPECTED_SEGMENTS


def test_segment_summary(ten):
    summary = queries.customer_summary(AS_OF)
    table = rfm.segment_summary(summary, rfm.segment(rfm.score(summary)))
    assert list(table.index) == ["重要价值客户", "重要保持客户", "重要挽留客户", "一般价值客户", "一般发展客户", "一般挽留客户"]
    assert list(table["customers"]) == [2, 1, 1, 1, 1, 4]
    assert list(table["revenue"]) == [1900.0, 800.0, 700.0, 300.0, 400.0, 1050.0]
    assert list(table["orders"]) == [14, 7, 1, 5, 3, 9]
    assert list(table["customer_share"]) == pytest.approx([0.2, 0.1, 0.1, 0.1, 0.1, 0.4])
    assert list(table["revenue_share"]) == pytest.approx([1900 / 5150, 800 / 5150, 700 / 5150, 300 / 5150, 400 / 5150, 1050 / 5150])
    assert list(table["avg_order_value"]) == pytest.approx([1900 / 14, 800 / 7, 700.0, 60.0, 400 / 3, 1050 / 9])


def summary_of(recency_days, purchase_days, revenue):
    return pd.DataFrame({"recency_days": recency_days, "purchase_days": purchase_days, "revenue": revenue},
                        index=pd.Index(range(1, len(revenue) + 1), name="customer_id"))


def test_few_customers_still_score():
    three = rfm.score(summary_of([30, 10, 20], [1, 3, 2], [50.0, 10.0, 90.0]))
    assert three.to_dict("list") == {"R": [1, 4, 2], "F": [1, 4, 2], "M": [2, 1, 4]}
    one = rfm.score(summary_of([3], [1], [10.0]))
    assert one.to_dict("list") == {"R": [1], "F": [1], "M": [1]}


def test_ties_break_by_customer_id():
    scores = rfm.score(summary_of([7] * 5, [2] * 5, [100.0] * 5))
    # Among equals the lower id ranks first, i.e. scores lower, in every one of R, F and M.
    assert scores.to_dict("list") == {"R": [1, 2, 3, 4, 5], "F": [1, 2, 3, 4, 5], "M": [1, 2, 3, 4, 5]}


def test_all_eight_segments_with_fixed_threshold():
    scores = pd.DataFrame(
        {"R": [5, 5, 1, 1, 5, 5, 1, 1], "F": [5, 1, 5, 1, 5, 1, 5, 1], "M": [5, 5, 5, 5, 1, 1, 1, 1]},
        index=range(8),
    )
    assert list(rfm.segment(scores, threshold=3)) == rfm.SEGMENT_ORDER
    # 3 is not above the threshold 3: low.
    assert rfm.segment(pd.DataFrame({"R": [3], "F": [4], "M": [3]}), threshold=3).iloc[0] == "一般保持客户"


def test_migration():
    a, b, c = "重要价值客户", "一般挽留客户", "重要发展客户"
    before = pd.Series({1: a, 2: a, 3: b, 4: c})
    after = pd.Series({1: a, 2: b, 3: b, 5: a})
    counts, shares = rfm.migration(before, after)
    labels = [a, c, b, rfm.NONE]
    assert list(counts.index) == labels and list(counts.columns) == labels
    assert counts.values.tolist() == [[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert shares.values.tolist() == [[0.5, 0, 0.5, 0], [0, 0, 0, 1.0], [0, 0, 1.0, 0], [1.0, 0, 0, 0]]


def test_migration_refuses_names_that_are_not_segments():
    with pytest.raises(ValueError):
        rfm.migration(pd.Series({1: "重要价值客户"}), pd.Series({1: "不是分群"}))
