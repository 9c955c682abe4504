"""analytics.fitters: lifetimes' fitters with the gradient in closed form must fit exactly what
lifetimes' autograd path fits — objective, gradient, Hessian, parameters and standard errors."""
import numpy as np
import pandas as pd
import pytest
from autograd import hessian, value_and_grad
from lifetimes import BetaGeoFitter as LifetimesBetaGeo
from lifetimes import GammaGammaFitter as LifetimesGammaGamma
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from analytics import clv, fitters

POINTS_BGNBD = [np.full(4, 0.1), np.array([-1.2, 0.5, -0.3, 2.0]), np.array([0.7, -2.0, 1.5, -0.5])]
POINTS_GG = [np.full(3, 0.1), np.array([1.2, 0.5, 3.0]), np.array([-0.4, 2.2, -1.0])]


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow_summary_data_with_monetary_value()


def bgnbd_args(summary, penalizer, weights=None):
    scale = 1.0 / summary["T"].max()  # lifetimes rescales time before it optimises
    n = len(summary)
    return (summary["frequency"].to_numpy(int), summary["recency"].to_numpy(float) * scale,
            summary["T"].to_numpy(float) * scale, np.ones(n) if weights is None else weights, penalizer)


@pytest.mark.parametrize("penalizer", [0.0, 0.05])
@pytest.mark.parametrize("point", POINTS_BGNBD)
def test_bgnbd_objective_and_gradient_are_lifetimes_own(cdnow, point, penalizer):
    weights = np.random.default_rng(3).integers(1, 5, len(cdnow)).astype(float)
    args = bgnbd_args(cdnow, penalizer, weights)
    value, gradient = value_and_grad(LifetimesBetaGeo._negative_log_likelihood)(point, *args)
    ours_value, ours_gradient = fitters.bgnbd_objective(point, *args)
    assert ours_value == pytest.approx(value, rel=1e-12)
    assert ours_gradient == pytest.approx(gradient, rel=1e-9, abs=1e-12)
    assert fitters._hessian(fitters.bgnbd_objective, point, args) == pytest.approx(
        hessian(LifetimesBetaGeo._negative_log_likelihood)(point, *args), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("penalizer", [0.0, 0.05])
@pytest.mark.parametrize("point", POINTS_GG)
def test_gamma_gamma_objective_and_gradient_are_lifetimes_own(cdnow, point, penalizer):
    buyers = clv.repeat_buyers(cdnow)
    args = (buyers["frequency"].to_numpy(float), buyers["monetary_value"].to_numpy(float),
            np.ones(len(buyers)), penalizer)
    value, gradient = value_and_grad(LifetimesGammaGamma._negative_log_likelihood)(point, *args)
    ours_value, ours_gradient = fitters.gamma_gamma_objective(point, *args)
    assert ours_value == pytest.approx(value, rel=1e-12)
    assert ours_gradient == pytest.approx(gradient, rel=1e-9, abs=1e-12)


def test_non_integer_frequencies_take_the_general_path(cdnow):
    """Counts index the per-frequency terms directly; anything else is grouped by value."""
    buyers = clv.repeat_buyers(cdnow).head(200)
    frequency = buyers["frequency"].to_numpy(float) + 0.5
    args = (frequency, buyers["monetary_value"].to_numpy(float), np.ones(len(buyers)), 0.0)
    value, gradient = value_and_grad(LifetimesGammaGamma._negative_log_likelihood)(POINTS_GG[1], *args)
    assert fitters.gamma_gamma_objective(POINTS_GG[1], *args)[1] == pytest.approx(gradient, rel=1e-9)
    assert fitters.gamma_gamma_objective(POINTS_GG[1], *args)[0] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("penalizer", [0.0, 0.01])
def test_fitted_bgnbd_is_lifetimes_fit(cdnow, penalizer):
    theirs = LifetimesBetaGeo(penalizer_coef=penalizer).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    ours = fitters.BetaGeoFitter(penalizer_coef=penalizer).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert isinstance(ours, LifetimesBetaGeo)
    assert ours.params_.to_numpy() == pytest.approx(theirs.params_.to_numpy(), rel=1e-6)
    assert ours.standard_errors_.to_numpy() == pytest.approx(theirs.standard_errors_.to_numpy(), rel=1e-4)
    assert ours._negative_log_likelihood_ == pytest.approx(theirs._negative_log_likelihood_, rel=1e-10)
    # A fitted model predicts as lifetimes' does: it is one.
    f, r, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    assert np.asarray(ours.conditional_probability_alive(f, r, T)) == pytest.approx(
        np.asarray(theirs.conditional_probability_alive(f, r, T)), rel=1e-5)


def test_fitted_gamma_gamma_is_lifetimes_fit(cdnow):
    buyers = clv.repeat_buyers(cdnow)
    theirs = LifetimesGammaGamma().fit(buyers["frequency"], buyers["monetary_value"])
    ours = fitters.GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"])
    assert ours.params_.to_numpy() == pytest.approx(theirs.params_.to_numpy(), rel=1e-6)
    assert ours.standard_errors_.to_numpy() == pytest.approx(theirs.standard_errors_.to_numpy(), rel=1e-4)


def test_a_fit_that_cannot_converge_says_so():
    """lifetimes raises ConvergenceError when the optimiser fails; so does the fast path."""
    from lifetimes.utils import ConvergenceError

    with pytest.raises(ConvergenceError):
        fitters.BetaGeoFitter().fit(pd.Series([1, 2]), pd.Series([1.0, 2.0]), pd.Series([3.0, 4.0]), maxiter=1)
