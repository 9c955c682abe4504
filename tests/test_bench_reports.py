"""bench.reports: its raw DuckDB baseline computes what analytics.queries computes, its time split
reads papermill's metadata right, it sees the kernel's memory, and the demo's orders knob works."""
import datetime
import subprocess
import sys

import pandas as pd
import pytest
from flask import current_app

import models
from analytics import queries
from bench import reports
from demo.fixed import REFERENCE_NOW
from tests.test_analytics_engine import AS_OF, shop, sqlite_app  # noqa: F401  (fixtures)

START = datetime.date(2023, 9, 1)
D = datetime.datetime


def frame_of(raw):
    return raw().reset_index(drop=True)


def same_summary(ours, theirs):
    theirs = theirs.set_index("customer_id")
    assert list(ours.index) == list(theirs.index)
    for column in ("orders", "revenue", "purchase_days"):
        assert ours[column].to_numpy() == pytest.approx(theirs[column].to_numpy(dtype=float))
    for column in ("first_purchase", "last_purchase"):
        assert (ours[column].to_numpy() == pd.to_datetime(theirs[column]).to_numpy()).all()
    repeat = (theirs["revenue"] - theirs["first_day_revenue"]) / (theirs["purchase_days"] - 1)
    assert ours["monetary_value"].to_numpy() == pytest.approx(repeat.fillna(0.0).to_numpy())


def test_raw_baseline_computes_the_same_aggregates(shop):  # noqa: F811
    path = models.db.obj.database
    people = list(models.Customer.select().order_by(models.Customer.id))
    for person, steps in zip(people, [("意向客户",), ("意向客户", "成交客户"), ("成交客户", "流失客户"), ("流失客户",)] * 5):
        for day, status in enumerate(steps, 1):
            models.StatusChange.create(customer=person, to_status=status, at=D(2024, 3, day), reason="测试")
    models.StatusChange.create(customer=people[-1], to_status="成交客户", at=D(2024, 8, 1), reason="as_of 之后")
    for number, person in enumerate(people[:30]):
        person.first_contact = datetime.date(2023, 6 + number % 7, 1 + number)
        person.save()
    for report in reports.REPORTS:
        library = [(aggregate, call) for aggregate, _, call in reports.report_calls(report, AS_OF, START)]
        raw = reports.raw_calls(report, path, AS_OF, START)
        assert [name for name, _ in library] == [name for name, _ in raw]
        for (aggregate, ours), (_, theirs) in zip(library, raw):
            ours, theirs = ours(), theirs()
            assert len(ours) and len(theirs), (report, aggregate)
            if aggregate == "customer summaries":
                assert sorted(ours) == sorted(theirs) and len(ours) == 2, report
                for day in ours:
                    assert len(ours[day]), (report, day)
                    same_summary(ours[day], theirs[day])
            elif aggregate == "cohort activity":
                assert (ours["cohort_month"].to_numpy() == pd.to_datetime(theirs["cohort"]).to_numpy()).all()
                assert (ours["activity_month"].to_numpy() == pd.to_datetime(theirs["month"]).to_numpy()).all()
                assert ours["customers"].tolist() == theirs["customers"].tolist()
            elif aggregate == "status conversion":
                assert (ours["month"].to_numpy() == pd.to_datetime(theirs["month"]).to_numpy()).all()
                assert ours[["reached", "customers"]].to_dict("list") == theirs[["reached", "customers"]].astype(int).to_dict("list")
                assert set(ours["reached"]) == {1, 2, 3}
            elif aggregate == "second purchase gaps":
                assert ours.to_dict("list") == theirs.astype(int).to_dict("list")
            else:
                assert ours[ours > 0].to_dict() == dict(theirs.itertuples(index=False))


def cell(source, duration, tags=()):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags), "papermill": {"duration": duration}}}


def test_split_cells_uses_data_tags_and_falls_back_to_query_calls():
    tagged = {"metadata": {"papermill": {"duration": 10.0}}, "cells": [
        cell("import pandas", 2.0), cell("summary = queries.customer_summary(x)", 3.0, ["data"]),
        cell("names = session.customer_labels(ids)", 1.0, ["data"]), cell("charts.bar(summary)", 1.5),
        {"cell_type": "markdown", "source": "# 标题", "metadata": {}},
    ]}
    assert reports.split_cells(tagged) == {"kernel": 2.5, "data": 4.0, "compute": 3.5, "tagged": True}
    untagged = {"metadata": {"papermill": {"duration": 8.0}}, "cells": [
        cell("import pandas", 1.0), cell("summary = queries.customer_summary(x)", 3.0),
        cell("top = session.customer_labels(ids)", 0.5), cell("charts.bar(summary)", 2.0),
    ]}
    assert reports.split_cells(untagged) == {"kernel": 1.5, "data": 3.5, "compute": 3.0, "tagged": False}


def test_peak_memory_is_the_childs():
    with reports.PeakMemory(interval=0.02) as memory:
        subprocess.run([sys.executable, "-c", "import time; block = bytearray(300 * 2**20); time.sleep(0.5)"],
                       check=True)
    assert 300 <= memory.mib < 1000


def test_a_report_runs_and_its_time_is_split(shop, tmp_path):  # noqa: F811
    split = reports.run_report_once("value", models.db.obj.database, str(tmp_path),
                                    field_key=current_app.config["FIELD_KEY"])
    assert split["data"] > 0 and split["compute"] > 0 and split["kernel"] > 0 and split["render"] > 0
    assert split["total"] >= split["data"] + split["compute"] + split["kernel"]
    assert 50 < split["peak_mib"] < 2048


def test_orders_scale_makes_customers_buy_more_often(app):
    import demo

    plain = demo.generate(customers=300, seed=5, now=REFERENCE_NOW)
    again = demo.generate(customers=300, seed=5, orders_scale=1.0, now=REFERENCE_NOW)
    busier = demo.generate(customers=300, seed=5, orders_scale=3.0, now=REFERENCE_NOW)
    assert again == plain  # the default knob leaves the demo's data as it was
    assert busier["customer"] == plain["customer"]
    assert 2.0 < busier["order"] / plain["order"] < 4.0


def test_sqlite_baseline_is_stopped_at_its_time_limit(sqlite_app):  # noqa: F811
    connection = models.db.connection()
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    assert reports.time_limited(lambda: models.db.execute_sql(endless).fetchall(), 0.2, connection) is None
    quick = reports.time_limited(lambda: models.db.execute_sql("SELECT 1").fetchall(), 5.0, connection)
    assert quick is not None and quick < 5.0
