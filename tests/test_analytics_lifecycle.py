"""Lifecycle analyses against small hand-computed examples: funnel conversion by month of first
contact (SQL on every engine the bound database offers) and flows between lifecycle stages."""
import datetime

import pandas as pd
import pytest

import models
from analytics import engines, lifecycle, queries

AS_OF = datetime.date(2024, 3, 31)
START = datetime.date(2024, 1, 1)


def at(text):
    return datetime.datetime.fromisoformat(text)


@pytest.fixture
def funnel(app, make_customer):
    """Customers with their status histories; the expected furthest stage is in the comment."""
    def customer(first_contact, *changes, owner="sales1", status="潜在客户"):
        made = make_customer(owner=owner, first_contact=first_contact, status=status)
        for status, when in changes:
            models.StatusChange.create(customer=made, to_status=status, reason="测试", at=at(when))
        return made

    with app.app_context():
        customer(datetime.date(2024, 1, 5), ("意向客户", "2024-01-10"), ("成交客户", "2024-02-01"))  # Jan: 3
        customer(datetime.date(2024, 1, 20), ("意向客户", "2024-01-25"), ("流失客户", "2024-03-01"))  # Jan: 2
        customer(datetime.date(2024, 1, 28))  # Jan: 1
        customer(datetime.date(2024, 1, 29), status="成交客户")  # Jan: 3 — imported as won, never changed
        customer(datetime.date(2024, 1, 30), ("成交客户", "2024-05-01"), status="成交客户")  # Jan: 1 — won later
        # Feb: 2 — won only after as_of; interested late on the as_of day itself
        customer(datetime.date(2024, 2, 3), ("意向客户", "2024-03-31 23:00:00"), ("成交客户", "2024-04-10"))
        customer(datetime.date(2024, 2, 10), ("成交客户", "2024-02-11"), owner="sales2")  # Feb: 3
        customer(datetime.date(2024, 4, 2), ("成交客户", "2024-04-03"))  # first contact after as_of
        customer(None, ("成交客户", "2024-01-03"))  # no first-contact date
        customer(datetime.date(2023, 12, 1), ("意向客户", "2023-12-02"))  # before start
        yield app


def available_engines():
    return ["duckdb", "sqlite"] if models.is_sqlite() else ["postgresql"]


def expected(rows):
    frame = pd.DataFrame(rows, columns=["month", "reached", "customers"])
    frame["month"] = pd.to_datetime(frame["month"])
    return frame.astype({"reached": int, "customers": int})


def conversion(engine, **filters):
    with engines.using(engine):
        return queries.status_conversion(AS_OF, START, **filters)


def test_status_conversion_counts_the_furthest_stage_reached_by_as_of(funnel):
    with funnel.app_context():
        users = {u.username: u.id for u in models.User.select()}
        for engine in available_engines():
            frame = conversion(engine)
            pd.testing.assert_frame_equal(frame, expected([
                ("2024-01-01", 1, 2), ("2024-01-01", 2, 1), ("2024-01-01", 3, 2),
                ("2024-02-01", 2, 1), ("2024-02-01", 3, 1),
            ]), check_dtype=False, obj=engine)
            assert list(conversion(engine, owner_ids=[users["sales2"]]).itertuples(index=False)) == [
                (pd.Timestamp("2024-02-01"), 3, 1)]
            assert conversion(engine, owner_ids=[]).empty
            with engines.using(engine):
                without_start = queries.status_conversion(AS_OF)
            assert without_start["customers"].sum() == 8, "the December customer counts without a start"


def test_conversion_by_month_is_the_share_reaching_each_stage(funnel):
    with funnel.app_context():
        rates = lifecycle.conversion_by_month(queries.status_conversion(AS_OF, START))
    assert list(rates.columns) == ["customers", "意向客户率", "成交客户率"]
    assert rates["customers"].tolist() == [5, 2]
    assert rates["意向客户率"].tolist() == pytest.approx([3 / 5, 1.0])
    assert rates["成交客户率"].tolist() == pytest.approx([2 / 5, 0.5])
    empty = lifecycle.conversion_by_month(expected([]))
    assert empty.empty and list(empty.columns) == ["customers", "意向客户率", "成交客户率"]


def test_flows_between_stages_with_new_buyers_coming_from_not_yet():
    before = pd.Series({1: "活跃客户", 2: "已流失客户", 4: "流失风险客户"})
    after = pd.Series({1: "已流失客户", 2: "已流失客户", 3: "新客户", 4: "活跃客户"})
    table = lifecycle.flows(before, after)
    assert list(table.index) == ["尚未购买", "新客户", "活跃客户", "流失风险客户", "已流失客户"]
    assert list(table.columns) == ["新客户", "活跃客户", "流失风险客户", "已流失客户"]
    assert table.loc["活跃客户", "已流失客户"] == 1
    assert table.loc["已流失客户", "已流失客户"] == 1
    assert table.loc["尚未购买", "新客户"] == 1
    assert table.loc["流失风险客户", "活跃客户"] == 1  # won back
    assert table.to_numpy().sum() == 4
    nobody = lifecycle.flows(pd.Series(dtype=object), pd.Series(dtype=object))
    assert nobody.shape == (5, 4) and nobody.to_numpy().sum() == 0
