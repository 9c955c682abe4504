"""analytics.queries against a real database, with numbers worked out by hand."""
import contextlib
import datetime
import random

import pandas as pd
import pytest

import models
from analytics import engines, queries

D = datetime.datetime
AS_OF = datetime.date(2024, 3, 31)


@pytest.fixture
def shop(make_customer, make_order, users):
    """Three buyers, one customer who never ordered and one who only ordered after AS_OF."""
    a = make_customer(owner="sales1", region="华北", industry="互联网")
    b = make_customer(owner="sales2", region="华东", industry="互联网")
    c = make_customer(owner="sales1", region="华东", industry="制造")
    make_customer(owner="sales1")
    e = make_customer(owner="sales1")
    vip = models.Tag.create(name="VIP", category="价值")
    models.CustomerTag.create(customer=a, tag=vip)
    for at, amount in [(D(2024, 1, 1, 10), "100.00"), (D(2024, 1, 1, 15), "50.00"),  # one purchase day
                       (D(2024, 1, 11), "200.00"), (D(2024, 2, 10), "300.00"),
                       (D(2024, 3, 31, 23, 59), "40.00"),  # last moment of AS_OF counts
                       (D(2024, 4, 1), "999.00")]:  # after AS_OF
        make_order(a, amount=amount, ordered_at=at)
    make_order(b, amount="80.00", ordered_at=D(2024, 2, 1, 9))
    for at, amount in [(D(2023, 12, 31, 18), "500.00"), (D(2024, 3, 1), "60.00"), (D(2024, 3, 16), "90.00")]:
        make_order(c, amount=amount, ordered_at=at)
    make_order(e, amount="10.00", ordered_at=D(2024, 4, 2))
    return a, b, c


def row(summary, customer):
    return summary.loc[customer.id].to_dict()


def test_summary_hand_computed(shop):
    a, b, c = shop
    summary = queries.customer_summary(AS_OF)
    assert list(summary.index) == [a.id, b.id, c.id]
    # A: days 01-01 (150), 01-11 (200), 02-10 (300), 03-31 (40); 2024 is a leap year.
    assert row(summary, a) == {
        "first_purchase": pd.Timestamp("2024-01-01"), "last_purchase": pd.Timestamp("2024-03-31"),
        "orders": 5, "revenue": 690.0, "purchase_days": 4, "frequency": 3,
        "recency": 90.0, "T": 90.0, "monetary_value": 180.0, "recency_days": 0,
    }
    assert row(summary, b) == {
        "first_purchase": pd.Timestamp("2024-02-01"), "last_purchase": pd.Timestamp("2024-02-01"),
        "orders": 1, "revenue": 80.0, "purchase_days": 1, "frequency": 0,
        "recency": 0.0, "T": 59.0, "monetary_value": 0.0, "recency_days": 59,
    }
    assert row(summary, c) == {
        "first_purchase": pd.Timestamp("2023-12-31"), "last_purchase": pd.Timestamp("2024-03-16"),
        "orders": 3, "revenue": 650.0, "purchase_days": 3, "frequency": 2,
        "recency": 76.0, "T": 91.0, "monetary_value": 75.0, "recency_days": 15,
    }


def test_summary_start_excludes_earlier_orders(shop):
    a, b, c = shop
    summary = queries.customer_summary(AS_OF, start=datetime.date(2024, 1, 1))
    assert row(summary, c) == {
        "first_purchase": pd.Timestamp("2024-03-01"), "last_purchase": pd.Timestamp("2024-03-16"),
        "orders": 2, "revenue": 150.0, "purchase_days": 2, "frequency": 1,
        "recency": 15.0, "T": 30.0, "monetary_value": 90.0, "recency_days": 15,
    }
    assert row(summary, a)["orders"] == 5


def test_summary_in_weeks(shop):
    a, _, c = shop
    summary = queries.customer_summary(AS_OF, unit_days=7)
    assert summary.loc[a.id, "recency"] == pytest.approx(90 / 7)
    assert summary.loc[c.id, "T"] == pytest.approx(13.0)
    assert summary.loc[c.id, "frequency"] == 2


def test_summary_filters(shop, users):
    a, b, c = shop
    assert list(queries.customer_summary(AS_OF, owner_ids=[users["sales1"].id]).index) == [a.id, c.id]
    assert list(queries.customer_summary(AS_OF, owner_ids=[]).index) == []
    assert list(queries.customer_summary(AS_OF, regions=["华东"]).index) == [b.id, c.id]
    assert list(queries.customer_summary(AS_OF, industries=["制造"]).index) == [c.id]
    assert list(queries.customer_summary(AS_OF, tag="VIP").index) == [a.id]
    assert list(queries.customer_summary(AS_OF, regions=["华东"], owner_ids=[users["sales1"].id]).index) == [c.id]


def test_summary_empty(app):
    summary = queries.customer_summary(AS_OF)
    assert summary.empty and "frequency" in summary.columns


def test_summary_matches_lifetimes(make_customer, make_order):
    from lifetimes.utils import summary_data_from_transaction_data

    rng = random.Random(7)
    customers = [make_customer() for _ in range(40)]
    rows = []
    for n in range(400):
        customer = rng.choice(customers)
        at = D(2023, 1, 1) + datetime.timedelta(days=rng.randrange(0, 420), hours=rng.randrange(0, 24))
        amount = f"{rng.randrange(100, 100000) / 100:.2f}"
        rows.append({"customer": customer.id, "order_no": f"LT{n:06d}", "ordered_at": at, "amount": amount})
    models.Order.insert_many(rows).execute()
    as_of = datetime.date(2023, 12, 31)

    ours = queries.customer_summary(as_of)
    transactions = pd.DataFrame(rows)
    transactions["amount"] = transactions["amount"].astype(float)
    theirs = summary_data_from_transaction_data(
        transactions, "customer", "ordered_at", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(as_of), freq="D",
    )
    assert sorted(ours.index) == sorted(theirs.index)
    theirs = theirs.loc[ours.index]
    for column in ("frequency", "recency", "T", "monetary_value"):
        assert ours[column].to_numpy() == pytest.approx(theirs[column].to_numpy()), column


def test_status_counts(make_customer, users):
    make_customer(status="潜在客户")
    make_customer(status="潜在客户", region="华东")
    make_customer(status="意向客户", owner="sales2")
    make_customer(status="流失客户")
    counts = queries.status_counts()
    assert counts.to_dict() == {"潜在客户": 2, "意向客户": 1, "成交客户": 0, "流失客户": 1}
    assert list(counts.index) == ["潜在客户", "意向客户", "成交客户", "流失客户"]
    assert queries.status_counts(owner_ids=[users["sales1"].id]).to_dict() == {
        "潜在客户": 2, "意向客户": 0, "成交客户": 0, "流失客户": 1}
    assert queries.status_counts(regions=["华东"]).to_dict() == {"潜在客户": 1, "意向客户": 0, "成交客户": 0, "流失客户": 0}


def test_empty_filters_mean_no_filter_but_an_empty_scope_means_nothing(make_customer, make_order):
    import datetime

    from analytics.queries import customer_summary

    customer = make_customer(owner="sales1")
    make_order(customer, ordered_at=datetime.datetime(2024, 5, 1))
    as_of = datetime.date(2024, 6, 1)
    assert len(customer_summary(as_of, regions=[], industries=[], tag="")) == 1
    assert customer_summary(as_of, owner_ids=[]).empty


def test_summaries_for_several_days_equal_one_summary_each(shop, users):
    """customer_summaries groups the orders once for all days; each frame is customer_summary's."""
    days = [AS_OF, datetime.date(2024, 2, 10), datetime.date(2024, 1, 1), datetime.date(2023, 6, 1),
            datetime.date(2024, 4, 30)]
    for filters in ({}, {"start": datetime.date(2024, 1, 5)}, {"owner_ids": [users["sales1"].id]},
                    {"tag": "VIP"}, {"owner_ids": []}):
        together = queries.customer_summaries(days, unit_days=7, **filters)
        assert sorted(together) == sorted(days)
        for day in days:
            pd.testing.assert_frame_equal(together[day], queries.customer_summary(day, unit_days=7, **filters),
                                          check_exact=False, rtol=1e-12, obj=f"{day} {filters}")
    assert queries.customer_summaries([]) == {}
    a, b, c = shop
    earlier = queries.customer_summaries([AS_OF, datetime.date(2024, 2, 10)])[datetime.date(2024, 2, 10)]
    # By 2024-02-10: a bought on 01-01 (two orders), 01-11 and 02-10; b on 02-01; c on 2023-12-31.
    assert row(earlier, a)["purchase_days"] == 3 and row(earlier, a)["orders"] == 4
    assert row(earlier, a)["revenue"] == 650.0 and row(earlier, a)["monetary_value"] == 250.0
    assert set(earlier.index) == {a.id, b.id, c.id}


def test_first_order_date(shop, users):
    assert queries.first_order_date() == datetime.date(2023, 12, 31)  # the day of an evening order
    assert queries.first_order_date(owner_ids=[users["sales2"].id]) == datetime.date(2024, 2, 1)
    assert queries.first_order_date(regions=["华北"]) == datetime.date(2024, 1, 1)
    assert queries.first_order_date(industries=["互联网"], tag="VIP") == datetime.date(2024, 1, 1)
    assert queries.first_order_date(owner_ids=[]) is None  # an empty scope has no orders
    assert queries.first_order_date(regions=["西北"]) is None
    with engines.using("sqlite") if models.is_sqlite() else contextlib.nullcontext():
        assert queries.first_order_date(regions=["华北"]) == datetime.date(2024, 1, 1)
