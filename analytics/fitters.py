"""lifetimes' BG/NBD and Gamma-Gamma fitters with their likelihood's gradient written out.

lifetimes fits by letting autograd differentiate its negative log-likelihood: at a million
customers (~430k distinct (frequency, recency, T) patterns) BFGS needs ~30 value-and-gradient
evaluations and autograd then builds the Hessian too, so one BG/NBD fit took ~6 s and a value
report fits three models (bench/analysis_steps.py times both fitters side by side).

These subclasses change only `_fit`, the optimisation: the objective is lifetimes' own
(`_negative_log_likelihood`, same parameterisation, time scaling, weights and penalty, same
start, optimiser and tolerance), its gradient is the closed form below, and the Hessian (for
lifetimes' standard errors) is the central difference of that gradient.  The terms that depend
on the frequency alone (log-gamma and digamma) are computed once per distinct frequency.
lifetimes' `fit` does everything else, so a fitted model is a lifetimes model in every way.
tests/test_analytics_fitters.py checks value, gradient, Hessian and fitted parameters against
lifetimes' autograd path.
"""
import numpy as np
from lifetimes import BetaGeoFitter as _LifetimesBetaGeo
from lifetimes import GammaGammaFitter as _LifetimesGammaGamma
from lifetimes.utils import ConvergenceError
from scipy.optimize import minimize
from scipy.special import digamma, gammaln


def _per_value(values):
    """(values to compute per-frequency terms at, index of each element into them).

    Frequencies are counts: the range min..max is a few dozen values, and the counts themselves
    index it (a sort of the whole column per evaluation would cost more than the likelihood).
    """
    values = np.asarray(values)
    counts = values.astype(np.intp)
    if len(values) and np.array_equal(counts, values):
        low = counts.min()
        return np.arange(low, counts.max() + 1, dtype=float), counts - low
    return np.unique(values.astype(float), return_inverse=True)


def bgnbd_objective(log_params, freq, rec, T, weights, penalizer_coef):
    """lifetimes.BetaGeoFitter._negative_log_likelihood and its gradient in log_params.

    Per customer (Fader, Hardie & Lee 2005, section 7), with x = freq, t = rec:
        ll = lnΓ(r+x) − lnΓ(r) + r ln α + lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
             + ln(e^A3 + [x>0] e^A4)
        A3 = −(r+x) ln(α+T),   A4 = ln a − ln(b+x−1) − (r+x) ln(α+t)
    The objective is −Σ w·ll / Σ w + penalizer · Σ θ²; θ = exp(log_params).
    """
    r, alpha, a, b = params = np.exp(np.asarray(log_params, dtype=float))
    xs, at = _per_value(freq)
    x = xs[at]
    repeat = x > 0
    w = np.asarray(weights, dtype=float)
    log_alpha_T = np.log(alpha + T)
    log_alpha_t = np.log(alpha + rec)
    a3 = -(r + x) * log_alpha_T
    b_x = b + np.maximum(xs, 1) - 1  # per frequency: b + x − 1, and b where x = 0 (term unused there)
    a4 = (np.log(a) - np.log(b_x))[at] - (r + x) * log_alpha_t
    top = np.maximum(a3, a4)
    e3 = np.exp(a3 - top)
    e4 = np.exp(a4 - top) * repeat
    mix = e3 + e4
    share3, share4 = e3 / mix, e4 / mix  # weights of the two terms in d ln(e^A3 + e^A4)

    per_x = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + xs)
             - gammaln(b) - gammaln(a + b + xs))
    ll = per_x[at] + np.log(mix) + top
    total = w.sum()
    value = -(w * ll).sum() / total + penalizer_coef * (params ** 2).sum()

    d_r = (digamma(r + xs) - digamma(r) + np.log(alpha))[at] - share3 * log_alpha_T - share4 * log_alpha_t
    d_alpha = r / alpha - (r + x) * (share3 / (alpha + T) + share4 / (alpha + rec))
    d_a = (digamma(a + b) - digamma(a + b + xs))[at] + share4 / a
    d_b = (digamma(a + b) + digamma(b + xs) - digamma(b) - digamma(a + b + xs))[at] - share4 / b_x[at]
    mean_grad = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) / total
    # d/d(log θ) = θ · d/dθ
    grad = -mean_grad * params + 2 * penalizer_coef * params ** 2
    return value, grad


def gamma_gamma_objective(log_params, frequency, avg_monetary_value, weights, penalizer_coef):
    """lifetimes.GammaGammaFitter._negative_log_likelihood and its gradient in log_params.

    Per customer (Fader & Hardie 2013, eq. 1a), x = frequency, m = mean spend:
        ll = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(xm+v)
    """
    p, q, v = params = np.exp(np.asarray(log_params, dtype=float))
    xs, at = _per_value(frequency)
    x = xs[at]
    m = np.asarray(avg_monetary_value, dtype=float)
    w = np.asarray(weights, dtype=float)
    log_m = np.log(m)
    log_xm_v = np.log(x * m + v)
    px = p * x

    per_x = gammaln(p * xs + q) - gammaln(p * xs) - gammaln(q) + p * xs * np.log(xs)
    ll = per_x[at] + q * np.log(v) + (px - 1) * log_m - (px + q) * log_xm_v
    total = w.sum()
    value = -(w * ll).sum() / total + penalizer_coef * (params ** 2).sum()

    psi_pxq = digamma(p * xs + q)
    d_p = (xs * (psi_pxq - digamma(p * xs) + np.log(xs)))[at] + x * (log_m - log_xm_v)
    d_q = (psi_pxq - digamma(q))[at] + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    mean_grad = np.array([(w * d).sum() for d in (d_p, d_q, d_v)]) / total
    grad = -mean_grad * params + 2 * penalizer_coef * params ** 2
    return value, grad


def _hessian(objective, x, args, step=1e-5):
    """Central differences of the exact gradient: 2·n gradient evaluations, symmetrised."""
    n = len(x)
    rows = []
    for i in range(n):
        shift = np.zeros(n)
        shift[i] = step
        rows.append((objective(x + shift, *args)[1] - objective(x - shift, *args)[1]) / (2 * step))
    hessian = np.array(rows)
    return (hessian + hessian.T) / 2


def _fit_with(objective, minimizing_function_args, initial_params, params_size, disp, tol=1e-7,
              bounds=None, **kwargs):
    """lifetimes.fitters.BaseFitter._fit with `objective` giving (value, gradient)."""
    start = 0.1 * np.ones(params_size) if initial_params is None else initial_params
    output = minimize(objective, x0=start, jac=True, method=None, tol=tol, args=minimizing_function_args,
                      options={"disp": disp, **kwargs}, bounds=bounds)
    if not output.success:
        error = ConvergenceError("The model did not converge. Try adding a larger penalizer to see if that helps convergence.")
        error.log_params = output.x  # where it stopped: analytics.fitting tells which way the fit ran off
        raise error
    return output.x, output.fun, _hessian(objective, output.x, minimizing_function_args)


class BetaGeoFitter(_LifetimesBetaGeo):
    def _fit(self, minimizing_function_args, initial_params, params_size, disp, tol=1e-7, bounds=None, **kwargs):
        return _fit_with(bgnbd_objective, minimizing_function_args, initial_params, params_size, disp, tol,
                         bounds, **kwargs)


class GammaGammaFitter(_LifetimesGammaGamma):
    def _fit(self, minimizing_function_args, initial_params, params_size, disp, tol=1e-7, bounds=None, **kwargs):
        return _fit_with(gamma_gamma_objective, minimizing_function_args, initial_params, params_size, disp, tol,
                         bounds, **kwargs)
