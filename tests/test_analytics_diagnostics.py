"""Calibration-versus-holdout check: hand-computed on a few customers, and equal to lifetimes'
calibration_and_holdout_data on CDNOW imported through the product."""
import datetime

import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import calibration_and_holdout_data

import models
from analytics import diagnostics
from analytics.queries import customer_summary
from intake.cdnow import default_path, load_cdnow, read
from tests.conftest import build_app

CAL_END, AS_OF = datetime.date(2024, 3, 31), datetime.date(2024, 6, 30)


def at(day):
    return datetime.datetime.fromisoformat(day)


@pytest.fixture
def orders(make_customer, make_order):
    """a: 3 calibration purchase days (two orders on 01-05 are one), 2 in the holdout (two on 05-01);
    b: one calibration purchase, none after; c: first buys in the holdout, so is left out."""
    a, b, c = make_customer(), make_customer(), make_customer()
    for day in ("2024-01-05 09:00", "2024-01-05 17:00", "2024-02-01 10:00", "2024-03-31 23:30",
                "2024-04-01 00:10", "2024-05-01 08:00", "2024-05-01 20:00"):
        make_order(a, ordered_at=at(day))
    make_order(b, ordered_at=at("2024-02-15 12:00"))
    make_order(c, ordered_at=at("2024-05-10 12:00"))
    make_order(c, ordered_at=at("2024-06-01 12:00"))
    return a.id, b.id, c.id


def test_holdout_summary_counts_purchase_days_after_the_calibration_end(orders):
    a, b, _ = orders
    calibration = customer_summary(CAL_END, unit_days=7)
    full = customer_summary(AS_OF, unit_days=7)
    holdout = diagnostics.holdout_summary(calibration, full, (AS_OF - CAL_END).days, unit_days=7)

    assert list(holdout.columns) == diagnostics.HOLDOUT_COLUMNS
    assert sorted(holdout.index) == sorted([a, b])
    # a: calibration days 01-05, 02-01, 03-31 -> frequency 2, recency 86 days, T 86 days;
    # holdout days 04-01 and 05-01 -> 2.  b: one purchase on 02-15, T = 45 days (2024 is a leap year).
    assert holdout.loc[a].tolist() == pytest.approx([2, 86 / 7, 86 / 7, 2, 91 / 7])
    assert holdout.loc[b].tolist() == pytest.approx([0, 0, 45 / 7, 0, 91 / 7])


def test_holdout_summary_refuses_swapped_summaries(orders):
    calibration = customer_summary(CAL_END)
    full = customer_summary(AS_OF)
    with pytest.raises(ValueError, match="cover every customer"):
        diagnostics.holdout_summary(full, calibration, 91)


def test_purchases_by_frequency_groups_and_caps_the_calibration_frequency():
    holdout = pd.DataFrame({
        "frequency_cal": [0, 0, 1, 7, 9, 12],
        "recency_cal": [0.0, 0.0, 5.0, 20.0, 25.0, 30.0],
        "T_cal": [30.0, 10.0, 30.0, 30.0, 30.0, 30.0],
        "frequency_holdout": [0, 1, 3, 2, 4, 6],
        "duration_holdout": [13.0] * 6,
    })

    model = BetaGeoFitter()
    model.params_ = pd.Series({"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4})  # about CDNOW's fit
    each = model.conditional_expected_number_of_purchases_up_to_time(
        13.0, holdout["frequency_cal"], holdout["recency_cal"], holdout["T_cal"]).to_numpy()

    table = diagnostics.purchases_by_frequency(holdout, model, max_frequency=7)
    assert table.index.tolist() == ["0", "1", "7+"]
    assert table["customers"].tolist() == [2, 1, 3]
    assert table["actual"].tolist() == pytest.approx([0.5, 3.0, 4.0])
    assert table["predicted"].tolist() == pytest.approx([each[:2].mean(), each[2], each[3:].mean()])
    assert each[3] < each[4] < each[5]  # the capped group really averages different predictions


def test_calibration_end_is_whole_weeks_before_as_of():
    assert diagnostics.calibration_end(AS_OF, 13) == CAL_END
    with pytest.raises(diagnostics.DiagnosticsError, match="holdout_weeks"):
        diagnostics.calibration_end(AS_OF, 0)


def test_too_little_data_is_a_clear_error(app, make_customer, make_order):
    empty = customer_summary(CAL_END)
    with pytest.raises(diagnostics.DiagnosticsError, match="没有购买记录"):
        diagnostics.calibration_check(empty, empty, 91)

    customer = make_customer()
    make_order(customer, ordered_at=at("2024-02-01 10:00"))
    make_order(customer, ordered_at=at("2024-05-01 10:00"))
    with pytest.raises(diagnostics.DiagnosticsError, match="没有复购"):
        diagnostics.calibration_check(customer_summary(CAL_END), customer_summary(AS_OF), 91)


# --- CDNOW: the same numbers as lifetimes, and a model that tracks the holdout ----------------
CDNOW_CAL_END, CDNOW_AS_OF = datetime.date(1997, 9, 30), datetime.date(1998, 6, 30)  # 39 + 39 weeks


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    """Summaries of CDNOW read through the product, re-indexed by CDNOW's customer id, and
    lifetimes' calibration/holdout frame from the raw file.  The import is slow: once per module,
    and every database read happens here so no other test's tables are involved."""
    app = build_app(tmp_path_factory.mktemp("cdnow-diagnostics"))
    with app.app_context():
        load_cdnow()
        calibration = customer_summary(CDNOW_CAL_END, unit_days=7)
        full = customer_summary(CDNOW_AS_OF, unit_days=7)
        cdnow_ids = {pk: int(name.split()[-1]) for pk, name in
                     models.Customer.select(models.Customer.id, models.Customer.name).tuples()}
    models.db.close()
    calibration.index = calibration.index.map(cdnow_ids)
    full.index = full.index.map(cdnow_ids)

    rows = read(default_path())
    transactions = pd.DataFrame([(cid, pd.Timestamp(day), float(amount)) for _, cid, day, _, amount in rows],
                                columns=["customer_id", "date", "amount"])
    # lifetimes 0.11 needs a value column to count holdout days under pandas 3, hence the amount.
    reference = calibration_and_holdout_data(
        transactions, "customer_id", "date", pd.Timestamp(CDNOW_CAL_END), pd.Timestamp(CDNOW_AS_OF),
        freq="D", freq_multiplier=7, monetary_value_col="amount")
    return calibration, full, reference


def test_holdout_summary_equals_lifetimes_on_cdnow(cdnow):
    calibration, full, reference = cdnow
    ours = diagnostics.holdout_summary(calibration, full, (CDNOW_AS_OF - CDNOW_CAL_END).days, unit_days=7)
    assert len(ours) == 2357
    expected = reference[diagnostics.HOLDOUT_COLUMNS].sort_index()
    pd.testing.assert_frame_equal(ours.sort_index().astype(float), expected, check_names=False)
    assert ours["frequency_holdout"].sum() > 1000  # the holdout is not trivially empty


def test_model_fitted_on_calibration_tracks_the_cdnow_holdout(cdnow):
    calibration, full, _ = cdnow
    model, table = diagnostics.calibration_check(calibration, full, (CDNOW_AS_OF - CDNOW_CAL_END).days)
    # The calibration fit is the published one (Fader, Hardie & Lee 2005).
    assert float(model.params_["r"]) == pytest.approx(0.243, abs=0.002)
    assert table.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == 2357
    assert table.loc["0", "customers"] == 1411  # one-time buyers in the first 39 weeks (the paper's 1,411)
    # Actual means rise with calibration frequency and the model follows them closely
    # (the paper's figure 3: within about a third of a purchase in every group).
    assert table["actual"].is_monotonic_increasing
    assert (table["predicted"] - table["actual"]).abs().max() < 0.4
    assert table.loc["0", "predicted"] == pytest.approx(table.loc["0", "actual"], abs=0.05)
