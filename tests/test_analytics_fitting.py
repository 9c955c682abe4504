"""The value models fit realistic data on any day (analytics.fitting).

Demo data for several seeds, generated for days a year and a half apart and analysed as of
dates spread over two years, must always give fitted parameters and a finite, non-negative
CLV; "not enough data" only below the stated thresholds; the CDNOW anchor still fits by
plain maximum likelihood.
"""
import datetime

import numpy as np
import pandas as pd
import pytest

import demo
import models
from analytics import clv, fitting, queries
from demo.fixed import REFERENCE_NOW
from tests.conftest import build_app

SEEDS = (3, 5, 11, 17)
# Days the demo data is generated for: the reference day (whose seed 3 sends BG/NBD's maximum
# likelihood to the boundary) and one 18 months earlier.
GENERATED_FOR = (REFERENCE_NOW, datetime.datetime(2025, 6, 2))
# As-of days per generated day: the day itself, 8 and 16 months before.
AS_OF_MONTHS_BACK = (0, 8, 16)
COMBINATIONS = [(seed, now, back) for seed in SEEDS for now in GENERATED_FOR for back in AS_OF_MONTHS_BACK]


def _as_of(now, months_back):
    return (pd.Timestamp(now) - pd.DateOffset(months=months_back)).date()


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    """{(seed, generated for, months back): customer summary in weeks}, from the database."""
    found = {}
    for seed in SEEDS:
        for now in GENERATED_FOR:
            app = build_app(tmp_path_factory.mktemp(f"seed{seed}"))
            with app.app_context():
                demo.generate(customers=300, seed=seed, password="x", now=now)
                days = [_as_of(now, back) for back in AS_OF_MONTHS_BACK]
                by_day = queries.customer_summaries(days, unit_days=7)
                for back, day in zip(AS_OF_MONTHS_BACK, days):
                    found[(seed, now, back)] = by_day[day]
            models.db.close()
            models.db.close_all()
    return found


def test_there_are_at_least_twenty_combinations_over_two_years():
    assert len(COMBINATIONS) >= 20
    days = [_as_of(now, back) for _, now, back in COMBINATIONS]
    assert (max(days) - min(days)).days >= 700


@pytest.mark.parametrize("seed,now,back", COMBINATIONS,
                         ids=[f"seed{s}-{n:%Y%m%d}-{b}m" for s, n, b in COMBINATIONS])
def test_demo_data_always_yields_parameters_and_a_finite_non_negative_clv(summaries, seed, now, back):
    summary = summaries[(seed, now, back)]
    fitted = fitting.fit_value_models(summary)
    for fit in (fitted.bgnbd, fitted.gamma_gamma):
        assert all(np.isfinite(value) and value > 0 for value in fit.params.values()), fit.params
        assert (fit.note == "") == (fit.method == "mle")
    values = clv.predict_clv_horizons(summary, [12, 36], bgnbd=fitted.bgnbd.model, gamma_gamma=fitted.gamma_gamma.model)
    for horizon in values.values():
        clv_values = horizon["clv"].to_numpy(dtype=float)
        assert len(clv_values) == len(summary)
        assert np.isfinite(clv_values).all() and (clv_values >= 0).all()
        assert clv_values.sum() > 0
    assert (values[36]["clv"] >= values[12]["clv"] - 1e-9).all(), "a longer horizon never lowers CLV"


def test_the_reference_days_boundary_is_refitted_and_said_in_one_sentence(summaries):
    """Seed 3 on the reference day: BG/NBD's a and b run off together (everyone drops out alike)."""
    summary = summaries[(3, REFERENCE_NOW, 0)]
    with pytest.raises(Exception, match="did not converge"):
        clv.fit_bgnbd_model(summary)  # plain maximum likelihood: no maximum inside
    fit = fitting.fit_bgnbd(summary)
    assert fit.method == "penalized" and fit.penalizer in fitting.PENALTIES
    assert fit.penalizer == min(p for p in fitting.PENALTIES if p <= fit.penalizer)
    assert fit.reason == fitting.BOUNDARY_REASONS["same_dropout"]
    assert fit.note.count("。") == 1 and f"{fit.penalizer:g}" in fit.note
    smaller = [p for p in fitting.PENALTIES if p < fit.penalizer]
    for penalizer in smaller:  # it is the smallest of the ladder that converges
        with pytest.raises(Exception):
            model = clv.fit_bgnbd_model(summary, penalizer)
            assert fitting._interior("bgnbd", model)
    record = fit.as_dict()
    assert record["method"] == "penalized" and set(record) >= {"r", "alpha", "a", "b", "penalizer", "reason"}


def test_a_gamma_gamma_boundary_is_refitted(summaries):
    """Seed 3, generated for 2025-06-02, as of 8 months before: p runs off (each customer spends alike)."""
    refitted = [key for key in COMBINATIONS
                if fitting.fit_gamma_gamma(summaries[key]).method == "penalized"]
    assert refitted, "the combinations include a Gamma-Gamma boundary"
    for key in refitted:
        fit = fitting.fit_gamma_gamma(summaries[key])
        assert fit.reason in fitting.BOUNDARY_REASONS.values() and fit.note


def test_maximum_likelihood_is_kept_where_it_has_a_maximum(app):
    """The CDNOW anchor: both models have an interior maximum, and the paper's values come out."""
    from intake import load_cdnow

    with app.app_context():
        load_cdnow()
        summary = queries.customer_summary(datetime.date(1997, 9, 30), unit_days=7)
    fitted = fitting.fit_value_models(summary)
    assert fitted.bgnbd.method == "mle" and fitted.gamma_gamma.method == "mle"
    assert fitted.bgnbd.params["r"] == pytest.approx(0.243, abs=0.002)
    assert fitted.bgnbd.params["b"] == pytest.approx(2.426, abs=0.005)
    assert fitted.gamma_gamma.params["q"] == pytest.approx(3.74, abs=0.02)
    assert fitted.notes == []
    table = fitted.parameter_table()
    assert list(table.columns) == ["模型", "参数", "含义", "估计值", "估计方法"]
    assert table["模型"].tolist() == ["BG/NBD"] * 4 + ["Gamma-Gamma"] * 3
    assert table["参数"].tolist() == ["r", "α", "a", "b", "p", "q", "γ"]
    assert set(table["估计方法"]) == {"最大似然估计"}


@pytest.mark.parametrize("buyers,repeat", [(0, 0), (19, 15), (40, 9)])
def test_not_enough_data_only_below_the_stated_thresholds(buyers, repeat):
    summary = _synthetic(buyers, repeat)
    with pytest.raises(fitting.NotEnoughData) as raised:
        fitting.fit_value_models(summary)
    message = str(raised.value)
    assert f"至少需要 {fitting.MIN_BUYERS} 位" in message and f"其中至少 {fitting.MIN_REPEAT_BUYERS} 位复购" in message
    assert f"当前为 {buyers} 位、其中复购 {repeat} 位" in message


def test_just_enough_data_fits():
    summary = _synthetic(fitting.MIN_BUYERS, fitting.MIN_REPEAT_BUYERS)
    fitted = fitting.fit_value_models(summary)
    assert np.isfinite(list(fitted.bgnbd.params.values())).all()


def _synthetic(buyers, repeat, seed=1):
    """A customer summary in weeks: `repeat` of `buyers` customers bought again."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(10, 100, buyers)
    frequency = np.where(np.arange(buyers) < repeat, rng.integers(1, 6, buyers), 0)
    recency = np.where(frequency > 0, T * rng.uniform(0.2, 1.0, buyers), 0.0)
    spend = np.where(frequency > 0, rng.gamma(3.0, 50.0, buyers), 0.0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": T, "monetary_value": spend})


def test_boundary_reasons_follow_the_direction_the_fit_ran_off_in():
    reason = fitting._boundary_reason
    big, mid, small = np.log(5e5), np.log(2.0), np.log(1e-7)
    assert reason("bgnbd", [mid, mid, big, big], ("r", "alpha", "a", "b")) == fitting.BOUNDARY_REASONS["same_dropout"]
    assert reason("bgnbd", [big, big, mid, mid], ("r", "alpha", "a", "b")) == fitting.BOUNDARY_REASONS["same_rate"]
    assert reason("bgnbd", [mid, mid, small, mid], ("r", "alpha", "a", "b")) == fitting.BOUNDARY_REASONS["no_dropout"]
    assert reason("gamma_gamma", [big, mid, small], ("p", "q", "v")) == fitting.BOUNDARY_REASONS["same_spend"]
    assert reason("gamma_gamma", [mid, big, big], ("p", "q", "v")) == fitting.BOUNDARY_REASONS["similar_customers"]
    assert reason("gamma_gamma", None, ("p", "q", "v")) == fitting.BOUNDARY_REASONS["unknown"]
