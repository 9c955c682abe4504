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


NOT_YET = "尚未购买"  # the row of customers who had not bought yet at the earlier date


def flows(before, after):
    """Customers moving from each stage at an earlier date (rows) to each stage now (columns).

    `before` and `after` are stages() of two summaries; customers who had not bought by the
    earlier date come in through the row 尚未购买.  Stages without customers are kept, so two
    reports always have the same rows and columns.
    """
    rows = [NOT_YET, *STAGES]
    if after.empty:
        table = pd.DataFrame(0, index=rows, columns=list(STAGES))
    else:
        origin = before.reindex(after.index).fillna(NOT_YET)
        table = pd.crosstab(origin, after).reindex(index=rows, columns=list(STAGES), fill_value=0).astype(int)
    return table.rename_axis(index="此前阶段", columns="当前阶段")


def conversion_by_month(reached):
    """Per month of first contact: new customers, and the share that reached 意向客户 and 成交客户.

    `reached` is analytics.queries.status_conversion(): customers per (month, furthest stage
    reached, 1 = 潜在客户 .. 3 = 成交客户).  Recent months have had less time to convert.
    """
    from .queries import FUNNEL

    columns = ["customers", *(f"{status}率" for status in FUNNEL[1:])]
    if reached.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="month"))
    counts = reached.pivot_table(index="month", columns="reached", values="customers", aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=range(1, len(FUNNEL) + 1), fill_value=0)
    total = counts.sum(axis=1)
    # Reaching stage k means reaching k or a later stage: cumulative from the end of the funnel.
    at_least = counts.iloc[:, ::-1].cumsum(axis=1).iloc[:, ::-1]
    result = pd.DataFrame({"customers": total.astype(int)})
    for stage, status in enumerate(FUNNEL[1:], 2):
        result[f"{status}率"] = at_least[stage] / total
    result.index.name = "month"
    return result
