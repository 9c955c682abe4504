"""CLV predictions behave sensibly; tiers and the Pareto share match hand-computed values."""
import numpy as np
import pandas as pd
import pytest
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from analytics import clv


@pytest.fixture(scope="module")
def fitted():
    # lifetimes' own CDNOW summary (weeks): realistic enough to fit, and needs no database.
    summary = load_cdnow_summary_data_with_monetary_value()
    return summary, clv.fit_bgnbd_model(summary), clv.fit_gamma_gamma_model(summary)


def predict(fitted, **options):
    summary, bgnbd, gamma_gamma = fitted
    return clv.predict_clv(summary, bgnbd=bgnbd, gamma_gamma=gamma_gamma, **options)


def test_predict_clv_has_one_row_per_customer(fitted):
    summary = fitted[0]
    result = predict(fitted)
    assert list(result.index) == list(summary.index)
    assert list(result.columns) == ["expected_purchases", "p_alive", "expected_spend", "clv"]
    assert result.notna().all().all()
    assert (result["p_alive"].between(0, 1)).all()
    assert (result["expected_purchases"] > 0).all() and (result["clv"] > 0).all()


def test_longer_horizon_means_more_purchases_and_value(fitted):
    short, long = predict(fitted, months=6), predict(fitted, months=12)
    assert (long["expected_purchases"] > short["expected_purchases"]).all()
    assert (long["clv"] > short["clv"]).all()


def test_higher_discount_rate_means_lower_value(fitted):
    low, high = predict(fitted, discount_rate=0.0), predict(fitted, discount_rate=0.05)
    assert (high["clv"] < low["clv"]).all()
    pd.testing.assert_series_equal(high["expected_purchases"], low["expected_purchases"])


def test_undiscounted_clv_is_purchases_times_spend(fitted):
    # With no discount, lifetimes' month-by-month sum telescopes to the horizon's total purchases.
    result = predict(fitted, months=12, discount_rate=0.0)
    expected = result["expected_purchases"] * result["expected_spend"]
    assert result["clv"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9)


def test_fitting_inside_predict_gives_the_same_answer(fitted):
    summary = fitted[0].head(400)
    own = clv.predict_clv(summary)
    assert own.shape == (400, 4)
    assert own["clv"].notna().all()


def test_unknown_time_unit_is_refused(fitted):
    with pytest.raises(ValueError, match="unit_days"):
        predict(fitted, unit_days=3)


def test_value_tiers_cut_ranked_customers_20_30_30_20():
    values = pd.Series([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], index=list("abcdefghij"), dtype=float)
    tiers = clv.value_tiers(values)
    assert list(tiers) == ["高价值客户"] * 2 + ["潜力客户"] * 3 + ["普通客户"] * 3 + ["低价值客户"] * 2
    assert list(tiers.index) == list("abcdefghij")


def test_value_tiers_keep_equal_values_together_and_ignore_order():
    values = pd.Series({"x": 1.0, "y": 5.0, "z": 5.0, "w": 3.0, "v": 0.0})
    # Positions (higher count + 1) / 5: y, z 1/5; w 3/5; x 4/5; v 5/5.
    assert clv.value_tiers(values).to_dict() == {
        "x": "普通客户", "y": "高价值客户", "z": "高价值客户", "w": "普通客户", "v": "低价值客户",
    }
    assert clv.value_tiers(pd.Series([], dtype=float)).empty


def test_pareto_share_of_the_top_customers():
    revenue = pd.Series([50, 20, 10, 10, 5, 5, 0, 0, 0, 0], dtype=float)
    assert clv.pareto(revenue) == pytest.approx(0.70)  # top 2 of 10: (50 + 20) / 100
    assert clv.pareto(revenue, top=0.1) == pytest.approx(0.50)
    assert clv.pareto(revenue, top=0.25) == pytest.approx(0.80)  # ceil(2.5) = 3 customers
    assert clv.pareto(revenue, top=1.0) == pytest.approx(1.0)
    assert clv.pareto(revenue, top=[0.1, 0.5]).to_dict() == pytest.approx({0.1: 0.50, 0.5: 0.95})
    assert clv.pareto(pd.Series([0.0, 0.0])) == 0.0
    assert clv.pareto(pd.Series([], dtype=float)) == 0.0


def test_fitting_on_weighted_patterns_finds_the_per_customer_fit():
    """fit_* fit the distinct (frequency, recency, T) / (frequency, monetary_value) rows weighted by
    how many customers share them: the same maximum of the same likelihood as one row per customer."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    summary = load_cdnow_summary_data_with_monetary_value()
    patterns = clv.patterns(summary[["frequency", "recency", "T"]])
    assert len(patterns) < len(summary) and patterns["weights"].sum() == len(summary)
    per_customer = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"]).params_
    assert clv.fit_bgnbd_model(summary).params_.to_numpy() == pytest.approx(per_customer.to_numpy(), rel=1e-4)
    buyers = clv.repeat_buyers(summary)
    per_buyer = GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"]).params_
    assert clv.fit_gamma_gamma_model(summary).params_.to_numpy() == pytest.approx(per_buyer.to_numpy(), rel=1e-4)


@pytest.mark.parametrize("unit_days,months,rate", [(7, 12, 0.01), (7, 36, 0.02), (1, 6, 0.0), (30, 24, 0.01)])
def test_predictions_equal_lifetimes_own(fitted, unit_days, months, rate):
    """predict_clv evaluates BG/NBD once per (frequency, T) pair; the numbers are lifetimes' own."""
    summary, bgnbd, gamma_gamma = fitted
    freq = clv.FREQ_BY_UNIT_DAYS[unit_days]
    horizon = months * {"D": 30, "W": 4.345, "M": 1.0}[freq]
    ours = predict(fitted, months=months, discount_rate=rate, unit_days=unit_days)
    f, r, T = summary["frequency"], summary["recency"], summary["T"]
    theirs_clv = gamma_gamma.customer_lifetime_value(bgnbd, f, r, T, summary["monetary_value"], time=months,
                                                     discount_rate=rate, freq=freq)
    assert ours["clv"].to_numpy() == pytest.approx(np.asarray(theirs_clv), rel=1e-9)
    theirs_purchases = bgnbd.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, T)
    assert ours["expected_purchases"].to_numpy() == pytest.approx(np.asarray(theirs_purchases), rel=1e-9)
    assert len(summary[["frequency", "T"]].drop_duplicates()) < len(summary) / 3


def _gamma_gamma(p, q, v):
    from lifetimes import GammaGammaFitter

    model = GammaGammaFitter()
    model.params_ = pd.Series({"p": p, "q": q, "v": v})
    return model


def test_expected_spend_is_lifetimes_where_the_model_mean_exists(fitted):
    summary, _bgnbd, gamma_gamma = fitted
    ours = clv.expected_spend(gamma_gamma, summary["frequency"], summary["monetary_value"])
    theirs = gamma_gamma.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(theirs, dtype=float), rtol=1e-12)


def test_expected_spend_falls_back_to_observed_means_when_q_is_at_most_1():
    # p = 2, q = 0.8, γ = 10: p·x + q − 1 = 2x − 0.2 > 0 for every x ≥ 1, < 0 for x = 0.
    model = _gamma_gamma(2.0, 0.8, 10.0)
    frequency = pd.Series([0, 1, 3], index=[7, 8, 9])
    monetary = pd.Series([0.0, 40.0, 20.0], index=[7, 8, 9])
    spend = clv.expected_spend(model, frequency, monetary)
    assert list(spend.index) == [7, 8, 9]
    assert spend[7] == pytest.approx((40.0 + 20.0) / 2), "one-time buyer: mean of repeat buyers' mean spend"
    assert spend[8] == pytest.approx(2 * (10 + 40) / (2 * 1 + 0.8 - 1))
    assert spend[9] == pytest.approx(2 * (10 + 3 * 20) / (2 * 3 + 0.8 - 1))
    lifetimes_says = model.conditional_expected_average_profit(frequency, monetary)
    assert float(np.asarray(lifetimes_says)[0]) < 0, "the case this guards against"
    assert (spend > 0).all()


def test_no_negative_clv_when_gamma_gamma_q_is_at_most_1(fitted):
    summary, bgnbd, _fitted_gamma_gamma = fitted
    result = clv.predict_clv(summary, bgnbd=bgnbd, gamma_gamma=_gamma_gamma(6.25, 0.9, 15.44))
    assert (result["expected_spend"] > 0).all() and (result["clv"] >= 0).all()


def test_several_horizons_in_one_walk_equal_one_call_each(fitted):
    summary, bgnbd, gamma_gamma = fitted
    together = clv.predict_clv_horizons(summary, [36, 12, 12], 0.01, 7, bgnbd=bgnbd, gamma_gamma=gamma_gamma)
    assert sorted(together) == [12, 36]
    for months in (12, 36):
        pd.testing.assert_frame_equal(together[months], predict(fitted, months=months, discount_rate=0.01))
