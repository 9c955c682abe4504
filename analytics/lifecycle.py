"""Lifecycle stages from a customer summary (analytics.queries.customer_summary).

The rule, in this order of precedence (days counted back from as_of):
  流失   churned  — no purchase for churn_days or more;
  沉睡风险 at risk — no purchase for half of churn_days or more;
  新客户  new      — first purchase within new_days;
  活跃   active   — everyone else who bought in the window.
Silence wins over newness: a customer who bought once 100 days ago and never again is at risk
(with churn_days=180), not new.
"""
import pandas as pd

STAGES = ("新客户", "活跃客户", "流失风险客户", "已流失客户")


def stages(summary, churn_days=180, new_days=90):
    """Stage per customer, indexed like `summary`."""
    if summary.empty:
        return pd.Series([], index=summary.index, dtype=object, name="stage")
    recency = summary["recency_days"].astype(float)
    # Days since the first purchase, from columns that are in days whatever unit_days was.
    age = recency + (summary["last_purchase"] - summary["first_purchase"]).dt.days
    result = pd.Series(STAGES[1], index=summary.index, dtype=object, name="stage")
    result[age <= new_days] = STAGES[0]
    result[recency >= churn_days / 2] = STAGES[2]
    result[recency >= churn_days] = STAGES[3]
    return result


def stage_counts(stage_series):
    """Customers per stage in lifecycle order (stages without customers shown as 0)."""
    counts = stage_series.value_counts().reindex(list(STAGES), fill_value=0).astype(int)
    counts.index.name = "stage"
    return counts.rename("customers")


def churn_risk(summary, p_alive, churn_days=180, top_n=20):
    """Customers at risk (silent for half of churn_days but not yet churned), lowest P(alive)
    first, then highest revenue: the ones worth a call before they go."""
    stage_series = stages(summary, churn_days)
    frame = summary[["recency_days", "revenue"]].join(pd.Series(p_alive, name="p_alive"))
    frame = frame[stage_series == STAGES[2]]
    return frame.sort_values(["p_alive", "revenue"], ascending=[True, False]).head(top_n)
