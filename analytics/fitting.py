"""The value models fitted on any data: maximum likelihood, else the smallest penalty that converges.

BG/NBD and Gamma-Gamma are fitted by maximum likelihood (analytics.clv, lifetimes' objective).
On some data the likelihood has no maximum inside the parameter space: it keeps rising as
parameters run off to infinity, the optimiser stops with "did not converge", and a report that
gave up there would tell a manager there is not enough data when there is plenty.  Seen on the
demo data (docs/analysis.md, "When the model fit reaches a boundary"):

- BG/NBD: a and b grow without limit at a fixed ratio: every customer has the same drop-out
  probability after each purchase (no spread for the Beta distribution to describe).
- Gamma-Gamma: p grows without limit (with v shrinking): each customer spends the same amount on
  every purchase, so there is no spread around their own average.

Then the fit is repeated with lifetimes' L2 penalty (penalizer_coef), trying PENALTIES from the
smallest up, and the first fit that converges to finite parameters is used.  The penalty pulls
the parameters toward zero just enough to give the likelihood a maximum; the estimates are then
slightly shrunk, which the report says in one sentence (Fit.note).

"Not enough data" is said only below MIN_BUYERS customers with a purchase or MIN_REPEAT_BUYERS
customers with a repeat purchase (NotEnoughData, with the counts), not because a fit struggled.
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifetimes.utils import ConvergenceError

from analytics import clv

MIN_BUYERS = 20  # customers with at least one purchase
MIN_REPEAT_BUYERS = 10  # of those, customers with a repeat purchase (Gamma-Gamma's data)
PENALTIES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# Shape parameters beyond these are a boundary, not an estimate: a Beta(a, b) or Gamma(p, ·) with
# a shape of 10,000 has no spread left; below the lower bound the distribution has collapsed onto 0.
SHAPE_LIMITS = (1e-6, 1e4)
SHAPES = {"bgnbd": ("r", "a", "b"), "gamma_gamma": ("p", "q")}

MODEL_NAMES = {"bgnbd": "BG/NBD", "gamma_gamma": "Gamma-Gamma"}
PARAMETER_MEANINGS = {
    "r": "购买频率分布的形状参数",
    "alpha": "购买频率分布的尺度参数（时间单位）",
    "a": "流失概率分布的参数 a",
    "b": "流失概率分布的参数 b",
    "p": "单次消费金额分布的形状参数",
    "q": "客户平均消费金额分布的形状参数",
    "v": "客户平均消费金额分布的尺度参数",
}
# The papers' symbols (lifetimes calls the Gamma-Gamma scale γ "v").
SYMBOLS = {"alpha": "α", "v": "γ"}
METHOD_LABELS = {"mle": "最大似然估计", "penalized": "加惩罚项的估计"}
# Why the maximum likelihood ran to a boundary, in plain words (see _boundary_reason).
BOUNDARY_REASONS = {
    "same_dropout": "各客户在每次购买后流失的可能性几乎相同",
    "same_rate": "各客户的购买频率几乎相同",
    "no_dropout": "购买记录中几乎看不出客户流失",
    "same_spend": "同一客户每次的消费金额几乎不变",
    "similar_customers": "不同客户的平均消费金额差别很小",
    "unknown": "数据中的规律不足以让参数收敛到有限值",
}


class NotEnoughData(ValueError):
    """Too few customers to fit the models at all; the message (Chinese) says how many are needed."""


@dataclass
class Fit:
    """One fitted model, and how it was fitted."""

    kind: str  # "bgnbd" or "gamma_gamma"
    model: object  # the lifetimes fitter
    penalizer: float = 0.0  # 0: maximum likelihood
    reason: str = ""  # why the maximum likelihood could not be used (empty when it was)

    @property
    def method(self):
        return "mle" if self.penalizer == 0 else "penalized"

    @property
    def params(self):
        return {name: float(value) for name, value in self.model.params_.items()}

    @property
    def note(self):
        """One plain sentence for the report when the fit is not plain maximum likelihood, else ""."""
        if self.method == "mle":
            return ""
        return (f"{MODEL_NAMES[self.kind]} 模型：{self.reason}，标准的最大似然估计因此无法收敛，"
                f"本报告改用加入最小惩罚项（{self.penalizer:g}）后收敛的估计，参数略向零收缩，预测结果仍可参考。")

    def as_dict(self):
        return {**self.params, "method": self.method, "penalizer": self.penalizer, "reason": self.reason}


def check_enough(summary):
    """Raise NotEnoughData unless `summary` has MIN_BUYERS buyers and MIN_REPEAT_BUYERS repeat buyers."""
    buyers = len(summary)
    repeat = int((summary["frequency"] > 0).sum()) if buyers else 0
    if buyers < MIN_BUYERS or repeat < MIN_REPEAT_BUYERS:
        raise NotEnoughData(
            f"数据不足，无法拟合模型：至少需要 {MIN_BUYERS} 位有购买记录的客户、其中至少 {MIN_REPEAT_BUYERS} 位复购客户，"
            f"当前为 {buyers} 位、其中复购 {repeat} 位。")


def _boundary_reason(kind, log_params, names):
    """Plain words for the direction a failed fit ran off in (BOUNDARY_REASONS)."""
    if log_params is None:
        return BOUNDARY_REASONS["unknown"]
    values = dict(zip(names, np.exp(np.asarray(log_params, dtype=float))))
    # Where the optimiser gave up, a parameter on its way out is past these, not yet past SHAPE_LIMITS.
    low, high = 1e-4, 1e3
    big = {name for name, value in values.items() if value > high}
    small = {name for name, value in values.items() if value < low}
    if kind == "bgnbd":
        key = ("same_dropout" if {"a", "b"} <= big else "same_rate" if "r" in big
               else "no_dropout" if "a" in small or "b" in big else "unknown")
    else:
        key = "same_spend" if "p" in big else "similar_customers" if "q" in big else "unknown"
    return BOUNDARY_REASONS[key]


def _interior(kind, model):
    low, high = SHAPE_LIMITS
    values = model.params_
    return (all(np.isfinite(float(v)) for v in values)
            and all(low <= float(values[name]) <= high for name in SHAPES[kind]))


def _fit(kind, fitter, names):
    """fitter(penalizer) -> a fitted lifetimes model; maximum likelihood first, then PENALTIES."""
    log_params = None
    try:
        model = fitter(0.0)
        if _interior(kind, model):
            return Fit(kind, model)
        log_params = np.log(model.params_[list(names)].to_numpy(dtype=float))
    except ConvergenceError as error:
        log_params = getattr(error, "log_params", None)
    reason = _boundary_reason(kind, log_params, names)
    for penalizer in PENALTIES:
        try:
            model = fitter(penalizer)
        except ConvergenceError:
            continue
        if _interior(kind, model):
            return Fit(kind, model, penalizer, reason)
    raise NotEnoughData(f"{MODEL_NAMES[kind]} 模型在任何惩罚系数下都无法收敛（{reason}），无法计算 CLV。")


def fit_bgnbd(summary):
    """Fit for BG/NBD (purchases and drop-out) on a customer summary; raises NotEnoughData."""
    check_enough(summary)
    return _fit("bgnbd", lambda penalizer: clv.fit_bgnbd_model(summary, penalizer), ("r", "alpha", "a", "b"))


def fit_gamma_gamma(summary):
    """Fit for Gamma-Gamma (spend per purchase) on a customer summary; raises NotEnoughData."""
    check_enough(summary)
    return _fit("gamma_gamma", lambda penalizer: clv.fit_gamma_gamma_model(summary, penalizer), ("p", "q", "v"))


@dataclass
class ValueModels:
    """Both models of a CLV, with what the report says about how they were fitted."""

    bgnbd: Fit
    gamma_gamma: Fit
    notes: list = field(default_factory=list)

    def parameter_table(self, digits=3):
        """The parameters as a reader's table: 模型 / 参数 / 含义 / 估计值 / 估计方法 (no index)."""
        rows = []
        for fit in (self.bgnbd, self.gamma_gamma):
            for name, value in fit.params.items():
                rows.append({"模型": MODEL_NAMES[fit.kind], "参数": SYMBOLS.get(name, name), "含义": PARAMETER_MEANINGS.get(name, ""),
                             "估计值": f"{value:,.{digits}f}", "估计方法": METHOD_LABELS[fit.method]})
        return pd.DataFrame(rows)

    def as_dict(self):
        """Machine-readable, for publish.results: {"bgnbd": {...}, "gamma_gamma": {...}}."""
        return {"bgnbd": self.bgnbd.as_dict(), "gamma_gamma": self.gamma_gamma.as_dict()}


def fit_value_models(summary):
    """BG/NBD and Gamma-Gamma for CLV on `summary`; raises NotEnoughData (message for the report).

    notes: the sentences a report shows about the fit (boundary refits; Gamma-Gamma's q ≤ 1,
    where analytics.clv.expected_spend uses observed averages)."""
    bgnbd, gamma_gamma = fit_bgnbd(summary), fit_gamma_gamma(summary)
    notes = [fit.note for fit in (bgnbd, gamma_gamma) if fit.note]
    if gamma_gamma.params["q"] <= 1:
        notes.append("Gamma-Gamma 模型的参数 q ≤ 1（消费金额长尾很重），模型的平均消费金额不存在；"
                     "复购次数少的客户改用实际平均消费金额估算，CLV 仅供参考。")
    return ValueModels(bgnbd, gamma_gamma, notes)
