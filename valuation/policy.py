"""What the access policy lets a grant see of the value table (access/defaults.py, policy key `customervalue`).

- view: the 客户价值分析表 screen, its rows in the grant's row scope (access.scope_query over CustomerValue,
  which reaches the customer's owner), and it also needs `customer` view;
- export: the XLSX / CSV export of what the list shows;
- column rules on `customervalue`: the money columns (年度消费额, LTV) are hidden for 客服专员 by default;
  a hidden column is neither shown, sorted, filtered nor exported, and valuation.top leaves it out.
"""
POLICY_KEY = "customervalue"
MONEY_COLUMNS = ("annual_spend", "ltv")
COLUMNS = ("customer", "annual_spend", "orders_12m", "ltv", "tier", "last_order_at", "as_of", "refreshed_at")


def may_view(grant):
    return grant.can(POLICY_KEY, "view") and grant.can("customer", "view")


def visible_columns(grant):
    """The value columns `grant` may see (None: the system, everything)."""
    if grant is None:
        return COLUMNS
    return tuple(c for c in COLUMNS if grant.visible(POLICY_KEY, c))
