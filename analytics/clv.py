"""Customer lifetime value: BG/NBD for how often, Gamma-Gamma for how much (via lifetimes).

Input is a customer summary in lifetimes' conventions, as analytics.queries.customer_summary
returns it: frequency (repeat purchase days), recency and T (in one time unit, normally weeks:
unit_days=7), monetary_value (mean revenue of the repeat purchase days, 0 without repeats).

Checked against the published CDNOW estimates (tests/test_cdnow_anchor.py): BG/NBD
r=0.243 α=4.414 a=0.793 b=2.426 LL=-9582.4 (Fader, Hardie & Lee 2005), Gamma-Gamma p=6.25
q=3.74 γ=15.44 (Fader & Hardie 2013).
"""
import math

import numpy as np
import pandas as pd
# lifetimes' models with their likelihood's gradient written out (analytics.fitters): the same
# fit, several times faster on a million customers.
from analytics.fitters import BetaGeoFitter, GammaGammaFitter

# lifetimes' CLV walks the horizon month by month and needs to know how long a month is in the
# summary's time unit; it knows these units ("W" uses 4.345 weeks per month).
FREQ_BY_UNIT_DAYS = {1: "D", 7: "W", 30: "M"}

TIERS = ("高价值客户", "潜力客户", "普通客户", "低价值客户")
# Upper bounds of each tier as a share of customers ranked by CLV, highest first:
# top 20 % high value, next 30 % potential, next 30 % ordinary, last 20 % low value.
TIER_BOUNDS = (0.2, 0.5, 0.8, 1.0)


def _columns(summary):
    return summary["frequency"], summary["recency"], summary["T"]


def patterns(columns):
    """The distinct rows of `columns` (a DataFrame) with the number of customers sharing each, as
    "weights".  Customers with the same inputs add the same term to the log-likelihood, so fitting
    the patterns weighted by their counts (as Fader & Hardie condense CDNOW) maximises the same
    likelihood as fitting every customer, at a fraction of the cost: a million customers share
    far fewer (frequency, recency, T) patterns."""
    return columns.groupby(list(columns.columns), sort=True).size().rename("weights").reset_index()


def fit_bgnbd_model(summary, penalizer=0.0):
    model = BetaGeoFitter(penalizer_coef=penalizer)
    fitted = patterns(pd.DataFrame(dict(zip(("frequency", "recency", "T"), _columns(summary)))))
    model.fit(fitted["frequency"], fitted["recency"], fitted["T"], weights=fitted["weights"])
    return model


def bgnbd_log_likelihood(model, summary):
    """Total BG/NBD log-likelihood of `summary` at the model's parameters, in the summary's time unit.

    lifetimes keeps only the optimiser's objective: the *mean* negative log-likelihood plus the
    penalty, computed on times it rescaled to make the optimiser behave (T divided so the largest
    is 10).  The density of recency and T changes with the time unit, so that number is neither
    the total nor in weeks.  The paper's -9582.4 is the sum over customers with time in weeks,
    so evaluate lifetimes' own per-customer formula at the unscaled parameters, without the
    penalty, and multiply the mean back by the number of customers.
    """
    frequency, recency, T = _columns(summary)
    params = model.params_[["r", "alpha", "a", "b"]].to_numpy(dtype=float)
    weights = np.ones(len(summary))
    mean_negative = BetaGeoFitter._negative_log_likelihood(
        np.log(params), np.asarray(frequency, dtype=int), np.asarray(recency, dtype=float),
        np.asarray(T, dtype=float), weights, 0.0,
    )
    return -float(mean_negative) * len(summary)


def fit_bgnbd(summary, penalizer=0.0):
    """{"r", "alpha", "a", "b", "log_likelihood"}; alpha is in the summary's time unit."""
    model = fit_bgnbd_model(summary, penalizer)
    result = {name: float(model.params_[name]) for name in ("r", "alpha", "a", "b")}
    result["log_likelihood"] = bgnbd_log_likelihood(model, summary)
    return result


def repeat_buyers(summary):
    """Gamma-Gamma describes the mean value of repeat purchases, so it is fitted on customers with
    at least one repeat (frequency > 0), as in the paper and the lifetimes docs."""
    return summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]


def fit_gamma_gamma_model(summary, penalizer=0.0):
    fitted = patterns(repeat_buyers(summary)[["frequency", "monetary_value"]])
    model = GammaGammaFitter(penalizer_coef=penalizer)
    model.fit(fitted["frequency"], fitted["monetary_value"], weights=fitted["weights"])
    return model


def fit_gamma_gamma(summary, penalizer=0.0):
    """{"p", "q", "v"}: v is the paper's γ (lifetimes calls it v)."""
    model = fit_gamma_gamma_model(summary, penalizer)
    return {name: float(model.params_[name]) for name in ("p", "q", "v")}


def predict_clv(summary, months=12, discount_rate=0.01, unit_days=7, penalizer=0.0, bgnbd=None, gamma_gamma=None):
    """Per customer: expected purchases over the next `months`, P(alive) now, and discounted CLV.

    discount_rate is per month (0.01 ≈ 12.7 % a year); lifetimes discounts each month's expected
    revenue by (1 + rate) ** month.  `months` is converted to the summary's unit the way lifetimes
    does (4.345 weeks, 30 days a month) so the purchases and the CLV cover the same horizon.
    Pass fitted models (fit_bgnbd_model / fit_gamma_gamma_model) to reuse them across calls.
    Customers with no repeat purchase get the population mean spend, which Gamma-Gamma gives
    them when their frequency is 0 (see expected_spend for when it cannot).
    """
    return predict_clv_horizons(summary, [months], discount_rate, unit_days, penalizer, bgnbd, gamma_gamma)[months]


def predict_clv_horizons(summary, horizons, discount_rate=0.01, unit_days=7, penalizer=0.0, bgnbd=None,
                         gamma_gamma=None):
    """{months: predict_clv(summary, months, ...)} for every horizon in `horizons`, in one walk
    over the months up to the longest (a 36-month CLV passes through the 12-month one)."""
    try:
        freq = FREQ_BY_UNIT_DAYS[unit_days]
    except KeyError:
        raise ValueError(f"unit_days must be one of {sorted(FREQ_BY_UNIT_DAYS)}, not {unit_days}") from None
    horizons = sorted({int(months) for months in horizons})
    bgnbd = bgnbd or fit_bgnbd_model(summary, penalizer)
    gamma_gamma = gamma_gamma or fit_gamma_gamma_model(summary, penalizer)
    frequency, recency, T = _columns(summary)
    month = {"D": 30, "W": 4.345, "M": 1.0}[freq]
    common = pd.DataFrame(index=summary.index)
    common["p_alive"] = bgnbd.conditional_probability_alive(frequency, recency, T)
    common["expected_spend"] = expected_spend(gamma_gamma, frequency, summary["monetary_value"])
    spend = common["expected_spend"].to_numpy(dtype=float)
    # lifetimes' customer_lifetime_value: month k adds spend × (E[purchases by month k] − E[by
    # month k−1]) / (1 + rate) ** k.  The same sum, with each month's expectation computed once.
    results = {}
    discounted = np.zeros(len(summary))
    previous = np.zeros(len(summary))
    steps = [step * month for step in range(1, (horizons[-1] if horizons else 0) + 1)]
    for step, expected in enumerate(expected_purchases_by_time(bgnbd, frequency, recency, T, steps), start=1):
        discounted += (expected - previous) / (1 + discount_rate) ** step
        previous = expected
        if step in horizons:
            result = common.copy()
            result["expected_purchases"] = previous  # by the horizon, `step` months from now
            result["clv"] = spend * discounted
            results[step] = result[["expected_purchases", "p_alive", "expected_spend", "clv"]]
    for months in horizons:
        if months not in results:  # a horizon of 0 months (or less): nothing expected, no value
            result = common.copy()
            result["expected_purchases"] = 0.0
            result["clv"] = 0.0
            results[months] = result[["expected_purchases", "p_alive", "expected_spend", "clv"]]
    return results


def expected_spend(gamma_gamma, frequency, monetary_value):
    """Gamma-Gamma's expected average spend per customer, never negative.

    The model's conditional mean p·(γ + x·m̄) / (p·x + q − 1) exists only where p·x + q > 1.
    With q ≤ 1 (spend with a very heavy tail) it does not for customers with few repeat
    purchases — for one-time buyers (x = 0) lifetimes would return p·γ/(q − 1) < 0 and a
    negative CLV.  There the data's own averages stand in: the customer's mean repeat spend,
    or for one-time buyers the mean of repeat buyers' mean spends.
    """
    p, q, v = (float(gamma_gamma.params_[name]) for name in ("p", "q", "v"))
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    denominator = p * x + q - 1
    defined = denominator > 0
    model = p * (v + x * m) / np.where(defined, denominator, 1.0)
    repeat = (x > 0) & (m > 0)
    population = m[repeat].mean() if repeat.any() else 0.0
    fallback = np.where(repeat, m, population)
    return pd.Series(np.where(defined, model, fallback), index=getattr(frequency, "index", None))


def expected_purchases_by_time(model, frequency, recency, T, times):
    """BG/NBD expected purchases in the next t time units, per customer, for each t of `times`.

    lifetimes' conditional_expected_number_of_purchases_up_to_time is numerator(t, frequency, T) /
    denominator(frequency, recency, T), and only the numerator needs the (costly) hypergeometric
    function.  A million customers share a few tens of thousands of (frequency, T) pairs, so
    lifetimes evaluates it once per pair, at recency = T where the denominator is
    1 + [frequency > 0]·a/(b + frequency − 1), and each customer's own denominator divides it.
    """
    r, alpha, a, b = (float(model.params_[name]) for name in ("r", "alpha", "a", "b"))
    x, recency, T = (np.asarray(column, dtype=float) for column in (frequency, recency, T))
    pairs = pd.DataFrame({"x": x, "T": T})
    pair_of_customer = pairs.groupby(["x", "T"], sort=False).ngroup().to_numpy()
    unique = pairs.drop_duplicates()  # in order of first appearance, as ngroup numbers them
    ux, uT = unique["x"].to_numpy(), unique["T"].to_numpy()
    at_recency_t = 1 + (ux > 0) * (a / (b + ux - 1))
    denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + recency)) ** (r + x)
    for t in times:
        numerator = model.conditional_expected_number_of_purchases_up_to_time(t, ux, uT, uT) * at_recency_t
        yield numerator[pair_of_customer] / denominator


def value_tiers(clv):
    """Tier per customer from CLV rank: top 20 % 高价值客户, next 30 % 潜力客户, next 30 % 普通客户,
    last 20 % 低价值客户.

    A customer's position is (number of customers with a strictly higher CLV + 1) / n, so equal
    CLVs always share a tier (the better one).  Quantile cuts on the values would instead move
    with the shape of the distribution and split ties arbitrarily.
    """
    clv = pd.Series(clv, dtype=float)
    if clv.empty:
        return pd.Series([], index=clv.index, dtype=object)
    position = clv.rank(method="min", ascending=False) / len(clv)
    tiers = pd.Series(TIERS[-1], index=clv.index, dtype=object)
    for tier, bound in zip(reversed(TIERS[:-1]), reversed(TIER_BOUNDS[:-1])):
        tiers[position <= bound + 1e-12] = tier
    return tiers


def pareto(revenue, top=0.2):
    """Share of total revenue held by the top `top` fraction of customers (ceil(top × n) of them).

    0.0 when there is no revenue.  Pass a list of fractions for several points of the curve.
    """
    if not np.isscalar(top):
        return pd.Series([pareto(revenue, t) for t in top], index=list(top), dtype=float)
    if not 0 <= top <= 1:
        raise ValueError("top must be between 0 and 1")
    values = np.sort(np.asarray(pd.Series(revenue, dtype=float).fillna(0.0)))[::-1]
    total = values.sum()
    if len(values) == 0 or total <= 0:
        return 0.0
    count = math.ceil(top * len(values) - 1e-9)
    return float(values[:count].sum() / total)
