"""Cohort retention and time to second purchase, in pandas on what `analytics.queries` counted."""
import pandas as pd


def _months_between(start, end):
    return (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)


def retention_matrix(cohort_activity):
    """Cohort month × months since acquisition (0..n): share of the cohort active that month.

    `cohort_activity` is `queries.cohort_activity(...)`.  Month 0 is 1.0 by definition; a month
    in which nobody of the cohort bought is 0.0; months after the last month in the data are
    NaN (not observed yet).  The `cohort_size` column holds the customers acquired that month.

    >>> retention_matrix(queries.cohort_activity(as_of))          # doctest: +SKIP
                  cohort_size    0     1    2
    cohort_month
    2024-01-01              4  1.0  0.50  0.25
    2024-02-01              2  1.0  0.00   NaN
    """
    frame = cohort_activity.copy()
    if frame.empty:
        return pd.DataFrame(columns=["cohort_size"], index=pd.DatetimeIndex([], name="cohort_month"))
    frame["months"] = _months_between(frame["cohort_month"], frame["activity_month"])
    counts = frame.pivot_table(index="cohort_month", columns="months", values="customers",
                               aggfunc="sum", fill_value=0)
    last = frame["activity_month"].max()
    periods = range(0, int(_months_between(pd.Series([counts.index.min()]), pd.Series([last])).iloc[0]) + 1)
    counts = counts.reindex(columns=list(periods), fill_value=0)
    sizes = counts[0]
    shares = counts.div(sizes, axis=0).astype(float)
    observed = _months_between(pd.Series(counts.index, index=counts.index), pd.Series(last, index=counts.index))
    for period in periods:
        shares.loc[observed < period, period] = float("nan")
    shares.insert(0, "cohort_size", sizes.astype(int))
    shares.columns.name = None
    return shares


def time_to_second_purchase(gaps):
    """Distribution of days from first to second purchase day, from `queries.second_purchase_gaps`.

    >>> time_to_second_purchase(queries.second_purchase_gaps(as_of))  # doctest: +SKIP
          customers  share  cumulative_share
    days
    7             2   0.50              0.50
    30            2   0.50              1.00
    """
    table = gaps.set_index("days")[["customers"]].sort_index()
    table["share"] = table["customers"] / table["customers"].sum()
    table["cumulative_share"] = table["share"].cumsum()
    return table


def median_days_to_second_purchase(gaps):
    """The median of that distribution (the smallest day count reaching half the customers)."""
    table = time_to_second_purchase(gaps)
    reached = table.index[table["cumulative_share"] >= 0.5]
    return int(reached[0]) if len(reached) else None
