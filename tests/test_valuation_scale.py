"""The value refresh's large-data paths (docs/values.md, Performance), on SQLite and PostgreSQL alike: its two
aggregates run on DuckDB over a copy of the order columns on both databases and give what a direct query of the
database gives; PostgreSQL's copy comes out by binary COPY and is asked for by the refresh only (reports keep
their engine); the write brings the table level by UPDATE / INSERT / DELETE on PostgreSQL (executemany on
SQLite) with the same rows either way.  Fixed dates throughout."""
import datetime
from decimal import Decimal

import pandas as pd
import pytest
from peewee import JOIN, Case, fn

import models
import valuation
from analytics import engines, queries
from demo.fixed import REFERENCE_DAY, REFERENCE_NOW
from models import Customer, CustomerValue, Order
from valuation import refreshing, writing

AS_OF = datetime.date(2025, 6, 30)


def own_engine():
    """The engine that runs SQL in the database itself: plain SQLite, or PostgreSQL."""
    return "sqlite" if models.is_sqlite() else "postgresql"


def direct_aggregates(as_of):
    """The three numbers per customer by the plain LEFT JOIN of every customer to its orders (the refresh's
    query before it grouped the orders first), run in the database itself."""
    start = datetime.datetime.combine(as_of - datetime.timedelta(days=364), datetime.time())
    end = datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time())
    window = Order.ordered_at >= start
    query = (Customer.select(Customer.id, fn.SUM(Case(None, [(window, Order.amount)], 0)),
                             fn.COUNT(Case(None, [(window, 1)])), fn.MAX(Order.ordered_at))
             .join(Order, JOIN.LEFT_OUTER, on=((Order.customer == Customer.id) & (Order.ordered_at < end)))
             .group_by(Customer.id))
    result = {}
    for customer_id, spend, count, last in query.tuples():
        if isinstance(last, str):  # SQLite's DATETIME text under an aggregate
            last = datetime.datetime.fromisoformat(last)
        result[customer_id] = (Decimal(str(spend or 0)).quantize(Decimal("0.01")), count, last)
    return result


@pytest.fixture
def generated(app):
    import demo

    demo.generate(customers=300, seed=3, now=REFERENCE_NOW)


def test_the_refresh_aggregates_on_duckdb_and_equals_a_direct_query(generated):
    day = REFERENCE_DAY - datetime.timedelta(days=40)  # orders after the day exist and are left out
    expected = direct_aggregates(day)
    with engines.using(own_engine()):
        summary_in_database = queries.customer_summary(day, unit_days=7)
    with refreshing._snapshot():
        assert engines.current().name == "duckdb"  # on PostgreSQL too, while the refresh holds its copy
        frame = refreshing.aggregates(day)
        summary = queries.customer_summary(day, unit_days=7)
    assert engines.current().name == ("duckdb" if engines._sqlite_file() else own_engine())
    got = {customer_id: (Decimal(f"{row.annual_spend:.2f}"), int(row.orders_12m),
                         None if pd.isna(row.last_order_at) else row.last_order_at.to_pydatetime())
           for customer_id, row in frame.iterrows()}
    assert got == expected and len(got) == 300
    assert any(count for _, count, _ in expected.values()) and any(last is None for *_, last in expected.values())
    pd.testing.assert_frame_equal(summary.sort_index(), summary_in_database.sort_index(), check_dtype=False,
                                  check_exact=False, rtol=1e-12)


def test_reports_keep_their_engine_only_the_refresh_copies_from_postgresql(app):
    """A report kernel's snapshot (take_snapshot() as analytics.session asks) is DuckDB's on a SQLite file
    only: on PostgreSQL the database answers the reports as before."""
    taken = engines.take_snapshot()
    try:
        assert taken is (engines._sqlite_file() is not None)
        assert engines.current().name == ("duckdb" if taken else own_engine())
    finally:
        engines.drop_snapshot()


def test_postgresql_copies_only_not_null_numbers_and_times():
    assert engines._binary_column(Order, "amount")[0] == "amount"
    assert engines._binary_column(Order, "customer")[0] == "customer_id"
    with pytest.raises(ValueError, match="NOT NULL"):
        engines._binary_column(Customer, "region")  # text
    with pytest.raises(ValueError, match="NOT NULL"):
        engines._binary_column(CustomerValue, "ltv")  # may be NULL


@pytest.fixture
def shop(app, make_customer, make_order):
    c = {name: make_customer(owner="sales1", name=name) for name in ("甲公司", "乙公司", "丙公司")}
    make_order(c["甲公司"], amount="100.10", ordered_at=datetime.datetime(2025, 6, 1, 10, 0))
    make_order(c["乙公司"], amount="20.00", ordered_at=datetime.datetime(2024, 1, 1, 10, 0))
    return c


def test_a_later_refresh_updates_adds_and_drops_rows(shop, make_customer, make_order):
    valuation.refresh(AS_OF, now=datetime.datetime(2025, 7, 1, 2, 30))
    first = {v.customer_id: v for v in CustomerValue.select()}
    assert first[shop["甲公司"].id].annual_spend == Decimal("100.10")
    late = make_customer(owner="sales2", name="丁公司")
    make_order(late, amount="5000.00", ordered_at=datetime.datetime(2025, 6, 30, 9, 0))
    make_order(shop["甲公司"], amount="0.90", ordered_at=datetime.datetime(2025, 6, 2, 10, 0))
    shop["丙公司"].delete_instance()
    outcome = valuation.refresh(AS_OF, now=datetime.datetime(2025, 7, 1, 3, 0))
    got = {v.customer_id: (v.annual_spend, v.orders_12m, v.last_order_at, v.refreshed_at)
           for v in CustomerValue.select()}
    stamp = datetime.datetime(2025, 7, 1, 3, 0)
    assert got == {shop["甲公司"].id: (Decimal("101.00"), 2, datetime.datetime(2025, 6, 2, 10, 0), stamp),
                   shop["乙公司"].id: (Decimal("0"), 0, datetime.datetime(2024, 1, 1, 10, 0), stamp),
                   late.id: (Decimal("5000.00"), 1, datetime.datetime(2025, 6, 30, 9, 0), stamp)}
    assert outcome.customers == 3


def test_the_write_drops_customers_left_out_and_customers_deleted_meanwhile(shop):
    valuation.refresh(AS_OF, now=datetime.datetime(2025, 7, 1, 2, 30))
    frame, _, _ = refreshing.compute(AS_OF)
    rows = pd.DataFrame({"customer": frame.index.to_numpy(dtype="int64"),
                         "annual_spend": frame["annual_spend"].to_numpy(dtype=float),
                         "orders_12m": frame["orders_12m"].to_numpy(dtype="int64"),
                         "ltv": frame["ltv"].to_numpy(dtype=float), "tier": frame["tier"].to_numpy(dtype=object),
                         "last_order_at": frame["last_order_at"].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object),
                         "as_of": AS_OF.isoformat(), "refreshed_at": "2025-07-01 04:00:00"})
    rows = rows[rows["customer"] != shop["乙公司"].id]  # not in this refresh: its old row goes
    shop["丙公司"].delete_instance()  # deleted after the numbers were read: its new row is not written
    with writing.replacing() as write:
        write(rows)
    assert {v.customer_id: v.refreshed_at for v in CustomerValue.select()} == \
        {shop["甲公司"].id: datetime.datetime(2025, 7, 1, 4, 0)}
