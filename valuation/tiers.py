"""The tier rules (客户分层): which customers are 高价值客户, 潜力客户, 普通客户 and 低价值客户.

The rule is data, RANKS below, read as a table: rank the customers who have a value by that value, highest
first, and cut the ranking at shares of those customers.  The value is the 3-year LTV when the model could be
fitted (valuation.refresh), else 年度消费额 (the refresh records which, ValueRefresh.basis).

    高价值客户  the top 20 % of customers with a positive value
    潜力客户    the next 30 %
    普通客户    the next 30 %
    低价值客户  the last 20 %, and every customer whose value is 0 (no order, or none the model expects to repeat)

Quantiles rather than fixed amounts: a threshold in yuan is right for one business in one year and wrong after
the next price list or a good quarter, while "the top fifth by predicted value" stays meaningful and always
fills every tier.  The cut points and the ranking are the value report's (analytics.clv.value_tiers, 20/30/30/20
by CLV rank, ties sharing the better tier), so the screen and the report call a customer the same.  Customers
without a value are left out of the ranking: with them in, the many customers at 0 would share one rank and
could land in 潜力客户 together.
"""
import pandas as pd

from analytics import clv
from models.values import TIERS

assert tuple(clv.TIERS) == TIERS, "the tiers of the table and of the value report must be the same"

RANKS = tuple(zip(TIERS, clv.TIER_BOUNDS))  # (tier, upper bound of its share of the ranking)
LOWEST = TIERS[-1]


def assign(value):
    """Tier per customer from `value` (a float Series by customer id; NaN or <= 0: no value)."""
    value = pd.Series(value, dtype=float)
    tiers = pd.Series(LOWEST, index=value.index, dtype=object)
    ranked = value[value > 0]
    if not ranked.empty:
        tiers.loc[ranked.index] = clv.value_tiers(ranked)
    return tiers


def describe():
    """The rule in one Chinese sentence per tier, for the screen and the docs."""
    lines, low = [], 0.0
    for tier, high in RANKS:
        lines.append(f"{tier}：排名前 {high:.0%}" if low == 0 else f"{tier}：排名 {low:.0%}–{high:.0%}")
        low = high
    return lines
