"""analytics.engines: DuckDB over the SQLite file gives the frames SQLite's own SQL gives, with every
filter, and sees what writers committed (WAL) and nothing they have not.

These tests need a SQLite file whatever DATABASE_URL says (DuckDB only reads SQLite files), so
they build their own app on one; test_engine_choice covers the bound database of the run.
"""
import datetime
import os
import random

import pandas as pd
import pytest

import models
from analytics import engines, queries
from tests.conftest import build_app

D = datetime.datetime
AS_OF = datetime.date(2024, 6, 30)


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv(engines.ENV, raising=False)
    application = build_app(tmp_path)
    with application.app_context():
        yield application
    models.db.close()
    models.db.close_all()


def customer(n, owner, region="华北", industry="互联网", status="成交客户"):
    return models.Customer.create(name=f"引擎客户{n:04d}", customer_type="企业", mobile=f"137{n:08d}",
                                  region=region, industry=industry, first_contact=datetime.date(2023, 1, 1),
                                  owner=owner, status=status)


@pytest.fixture
def shop(sqlite_app):
    """60 customers of three owners, regions and industries, some tagged, with 700 orders over 18
    months (several on the same day, some after AS_OF, some before the start filter)."""
    rng = random.Random(3)
    owners = {u.username: u for u in models.User.select()}
    vip = models.Tag.create(name="VIP", category="价值")
    people = []
    for n in range(60):
        person = customer(n, owners[rng.choice(["sales1", "sales2", "sales3"])], rng.choice(["华北", "华东", "华南"]),
                          rng.choice(["互联网", "制造"]))
        if n % 4 == 0:
            models.CustomerTag.create(customer=person, tag=vip)
        people.append(person)
    rows = []
    for n in range(700):
        at = D(2023, 1, 1) + datetime.timedelta(days=rng.randrange(0, 560), hours=rng.randrange(0, 24),
                                                minutes=rng.randrange(0, 60))
        rows.append({"customer": rng.choice(people[:50]).id, "order_no": f"EN{n:06d}", "ordered_at": at,
                     "amount": f"{rng.randrange(100, 500000) / 100:.2f}", "quantity": 1})
    models.Order.insert_many(rows).execute()
    return owners


def filter_cases(owners):
    return [
        {},
        {"start": datetime.date(2023, 9, 1)},
        {"owner_ids": [owners["sales1"].id]},
        {"owner_ids": [owners["sales2"].id, owners["sales3"].id], "regions": ["华东", "华南"]},
        {"owner_ids": []},  # an empty access scope: no customers
        {"regions": ["华南"], "industries": ["制造"]},
        {"tag": "VIP"},
        {"tag": "没有这个标签"},  # a filter nobody matches
        {"regions": [], "industries": [], "tag": ""},  # empty notebook defaults: no filter
    ]


def frames(engine, **filters):
    with engines.using(engine):
        return {
            "summary": queries.customer_summary(AS_OF, **filters),
            "summary_weeks": queries.customer_summary(AS_OF, unit_days=7, **filters),
            **{f"summaries {day}": frame for day, frame in queries.customer_summaries(
                [AS_OF, datetime.date(2024, 2, 29), datetime.date(2023, 7, 15)], unit_days=7, **filters).items()},
            "cohorts": queries.cohort_activity(AS_OF, **filters),
            "gaps": queries.second_purchase_gaps(AS_OF, **filters),
        }


def test_duckdb_and_sqlite_sql_give_equal_frames(shop):
    for filters in filter_cases(shop):
        duck, plain = frames("duckdb", **filters), frames("sqlite", **filters)
        for name in duck:
            pd.testing.assert_frame_equal(duck[name], plain[name], check_exact=False, rtol=1e-12,
                                          obj=f"{name} {filters}")
        if filters.get("owner_ids") == [] or filters.get("tag") == "没有这个标签":
            assert all(frame.empty for frame in duck.values()), filters
        else:
            assert not duck["summary"].empty and not duck["cohorts"].empty and not duck["gaps"].empty, filters
        # One pass for several days gives each day's own summary, on both engines.
        for engine, got in (("duckdb", duck), ("sqlite", plain)):
            with engines.using(engine):
                for day in (AS_OF, datetime.date(2024, 2, 29)):
                    pd.testing.assert_frame_equal(got[f"summaries {day}"], queries.customer_summary(
                        day, unit_days=7, **filters), check_exact=False, rtol=1e-12, obj=f"{engine} {day} {filters}")


def test_duckdb_frames_are_typed_like_sql(shop):
    duck, plain = frames("duckdb"), frames("sqlite")
    for name in duck:
        assert dict(duck[name].dtypes) == dict(plain[name].dtypes), name
    assert duck["summary"].index.dtype == "int64"
    assert str(duck["cohorts"]["cohort_month"].dtype) == "datetime64[ns]"


def test_duckdb_reads_committed_wal_data_and_nothing_uncommitted(sqlite_app, shop):
    path = models.db.obj.database
    with engines.using("duckdb"):
        before = queries.customer_summary(AS_OF)
        late = customer(900, shop["sales1"])
        models.Order.create(customer=late, order_no="WAL000001", ordered_at=D(2024, 6, 1), amount="12.00", quantity=1)
        # Committed but still only in the write-ahead log: the main file does not have it yet.
        assert os.path.getsize(path + "-wal") > 0
        after = queries.customer_summary(AS_OF)
        assert late.id not in before.index
        assert after.loc[late.id, "revenue"] == 12.0
        with models.db.atomic() as transaction:
            models.Order.create(customer=late, order_no="WAL000002", ordered_at=D(2024, 6, 2), amount="30.00",
                                quantity=1)
            during = queries.customer_summary(AS_OF)
            transaction.rollback()
        assert during.loc[late.id, "orders"] == 1  # the open transaction's order is not seen
        with models.db.atomic():
            models.Order.create(customer=late, order_no="WAL000003", ordered_at=D(2024, 6, 3), amount="30.00",
                                quantity=1)
        assert queries.customer_summary(AS_OF).loc[late.id, "orders"] == 2


def test_sqlite_file_defaults_to_duckdb_and_can_be_told_otherwise(sqlite_app, monkeypatch):
    assert engines.current().name == "duckdb"
    with engines.using("sqlite"):
        assert engines.current().name == "sqlite"
    assert engines.current().name == "duckdb"
    monkeypatch.setenv(engines.ENV, "sqlite")
    assert engines.current().name == "sqlite"
    monkeypatch.setenv(engines.ENV, "postgresql")
    with pytest.raises(ValueError, match="cannot run"):
        engines.current()
    monkeypatch.setenv(engines.ENV, "oracle")
    with pytest.raises(ValueError, match="unknown engine"):
        engines.current()


def test_in_memory_sqlite_falls_back_to_sql(sqlite_app):
    saved = models.db.obj
    try:
        models.bind("sqlite:///:memory:")
        assert engines.current().name == "sqlite"
    finally:
        models.db.obj.close()
        models.db.initialize(saved)


def test_engine_choice(app):
    """The bound database of this run (SQLite file or PostgreSQL) gets its preferred engine."""
    expected = "duckdb" if models.is_sqlite() else "postgresql"
    assert engines.current().name == expected
    assert queries.customer_summary(AS_OF).empty


def test_scanner_extension_is_the_installed_file():
    import duckdb

    path = engines.scanner_extension()
    assert os.path.isfile(path) and f"v{duckdb.__version__}" in path


def test_a_snapshot_gives_the_same_frames_and_stays_as_of_when_it_was_taken(shop):
    plain = {str(f): frames("sqlite", **f) for f in filter_cases(shop)}
    assert engines.take_snapshot()
    try:
        for filters in filter_cases(shop):
            snap = frames("duckdb", **filters)
            for name in snap:
                pd.testing.assert_frame_equal(snap[name], plain[str(filters)][name], check_exact=False, rtol=1e-12,
                                              obj=f"snapshot {name} {filters}")
        with engines.using("duckdb"):
            conversion = queries.status_conversion(AS_OF)
        with engines.using("sqlite"):
            pd.testing.assert_frame_equal(conversion, queries.status_conversion(AS_OF), check_dtype=False)
        late = customer(901, shop["sales1"])
        models.Order.create(customer=late, order_no="SNAP00001", ordered_at=D(2024, 6, 1), amount="12.00", quantity=1)
        with engines.using("duckdb"):
            assert late.id not in queries.customer_summary(AS_OF).index, "the copy is as of the snapshot"
    finally:
        engines.drop_snapshot()
    with engines.using("duckdb"):
        assert late.id in queries.customer_summary(AS_OF).index, "without it, the file as it is now"


def test_no_snapshot_without_a_sqlite_file(app):
    if models.is_sqlite():
        saved = models.db.obj
        try:
            models.bind("sqlite:///:memory:")
            assert engines.take_snapshot() is False
        finally:
            models.db.obj.close()
            models.db.initialize(saved)
    else:
        assert engines.take_snapshot() is False


def test_a_background_snapshot_gives_the_same_frames_once_copied(shop):
    """session.snapshot(wait=False) copies while the kernel imports; the first query waits for it."""
    plain = frames("sqlite")
    assert engines.take_snapshot(wait=False)
    try:
        snap = frames("duckdb")
        for name in snap:
            pd.testing.assert_frame_equal(snap[name], plain[name], check_exact=False, rtol=1e-12, obj=name)
    finally:
        engines.drop_snapshot()


@pytest.mark.parametrize("wait", [True, False])
def test_a_copy_that_fails_says_why_and_leaves_no_half_snapshot(shop, wait):
    # A table the snapshot copies is missing from the file: the copy cannot complete.
    models.db.execute_sql('DROP TABLE "status_change"')
    if wait:
        with pytest.raises(Exception, match="status_change"):
            engines.take_snapshot()
    else:
        assert engines.take_snapshot(wait=False)
        with pytest.raises(Exception, match="status_change"), engines.using("duckdb"):
            queries.customer_summary(AS_OF)  # the query that waited gets the copy's error
        engines.drop_snapshot()
    with engines.using("duckdb"):  # no snapshot in place: the file answers
        pd.testing.assert_frame_equal(queries.customer_summary(AS_OF), frames("sqlite")["summary"],
                                      check_exact=False, rtol=1e-12)
