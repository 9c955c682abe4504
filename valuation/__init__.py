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
from .policy import MONEY_COLUMNS, POLICY_KEY, may_view, visible_columns
from .ranking import top
from .refreshing import Outcome, compute, latest, refresh
from .tiers import RANKS, TIERS

__all__ = ["MONEY_COLUMNS", "Outcome", "POLICY_KEY", "RANKS", "TIERS", "compute", "latest", "may_view", "refresh",
           "top", "visible_columns"]
