"""The customer value table (客户价值分析表, issue 11 part 5).  Never imports Flask.

    import valuation
    valuation.refresh(datetime.date(2026, 12, 7))     # run.py refresh-values; the daily job value-refresh
    valuation.top(customer_query, 10, grant)          # the top customers by LTV in a row scope (the dashboard)
    valuation.may_view(grant) / valuation.visible_columns(grant)

Per customer: 年度消费额 and 订单总笔数 (the 365 days ending on the day), 客户生命周期价值 LTV (3-year CLV from
the value report's BG/NBD + Gamma-Gamma fit), 客户分层 (valuation.tiers) and 最后下单时间, stored in
models.CustomerValue.  The tag rules read the tier through their metric 客户分层 (tagrules.metrics).
See docs/values.md.
"""
import importlib

from models.values import TIERS

from .policy import MONEY_COLUMNS, POLICY_KEY, may_view, visible_columns
from .ranking import top

# Loaded on first use: refreshing and tiers import pandas, numpy and the CLV models (lifetimes, scipy), about a
# second of CPU that the web app and every worker would otherwise pay at start for the dashboard's valuation.top.
_LAZY = {"Outcome": "refreshing", "compute": "refreshing", "latest": "refreshing", "refresh": "refreshing",
         "RANKS": "tiers"}
_SUBMODULES = ("refreshing", "tiers", "writing")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MONEY_COLUMNS", "Outcome", "POLICY_KEY", "RANKS", "TIERS", "compute", "latest", "may_view", "refresh",
           "top", "visible_columns"]
