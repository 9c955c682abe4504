"""RFM scores and the eight classic segments, in pandas on `queries.customer_summary` output.

R scores how recently a customer last bought (recency_days; fewer days = higher), F how often
(purchase_days: several orders on one day are one visit, as in the summary), M how much
(revenue in the window).  Each score is the customer's quintile of the rank, 1 (lowest) to 5.
"""
import numpy as np
import pandas as pd

SEGMENTS = {
    # (R high, F high, M high) -> name
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}
SEGMENT_ORDER = list(SEGMENTS.values())
NONE = "（无）"  # a customer without purchases at one of the two dates of a migration

_SCORED = {"R": ("recency_days", False), "F": ("purchase_days", True), "M": ("revenue", True)}


def _quintile(values, ascending):
    # rank(method="first") breaks ties by row order, so equal values at a boundary still fill
    # equal-sized quintiles and the same data always scores the same; the caller sorts by id.
    ranks = values.rank(method="first", ascending=ascending)
    # Whole-column arithmetic: a Python function per customer cost seconds at a million.
    return (np.floor((ranks - 1) * 5 / len(values)) + 1).astype(int)


def score(summary):
    """R, F, M scores 1-5 per customer, by quintile of rank.

    With n customers, the customer ranked r (1 = worst) scores floor((r - 1) * 5 / n) + 1:
    ten customers score 1,1,2,2,3,3,4,4,5,5; fewer than five still score, e.g. three get 1,2,4.

    >>> score(summary)                                            # doctest: +SKIP
                 R  F  M
    customer_id
    1            5  4  5
    2            1  1  2
    """
    ordered = summary.sort_index()
    scores = pd.DataFrame(index=ordered.index)
    for name, (column, ascending) in _SCORED.items():
        scores[name] = _quintile(ordered[column], ascending) if len(ordered) else pd.Series(dtype=int)
    return scores


def segment(scores, threshold=None):
    """The segment of each customer: R, F and M are each "high" when above the threshold.

    The threshold defaults to each score column's mean over the customers scored (with quintile
    scores that is 3 or close to it, so 4 and 5 count as high); pass a number, e.g. 3, to use
    the same threshold for all three.

    >>> segment(score(summary))                                   # doctest: +SKIP
    customer_id
    1    重要价值客户
    2    一般挽留客户
    Name: segment, dtype: object
    """
    limits = {name: (scores[name].mean() if threshold is None else threshold) for name in "RFM"}
    high = {name: (scores[name] > limits[name]).to_numpy(dtype=int) for name in "RFM"}
    # Each (R, F, M) high/low triple as a number 0-7, looked up in one table of names.
    names = np.array([SEGMENTS[(bool(code & 4), bool(code & 2), bool(code & 1))] for code in range(8)], dtype=object)
    codes = 4 * high["R"] + 2 * high["F"] + high["M"]
    return pd.Series(names[codes], index=scores.index, name="segment", dtype=object)


def segment_summary(summary, segments):
    """Per segment: customers, their share, revenue, its share, orders and average order value.

    >>> segment_summary(summary, segment(score(summary)))        # doctest: +SKIP
              customers  customer_share  revenue  revenue_share  orders  avg_order_value
    segment
    重要价值客户          2             0.2   5000.0           0.50      20            250.0
    """
    frame = summary[["revenue", "orders"]].join(segments.rename("segment"), how="inner")
    table = frame.groupby("segment").agg(
        customers=("revenue", "size"), revenue=("revenue", "sum"), orders=("orders", "sum"),
    )
    table = table.reindex([name for name in SEGMENT_ORDER if name in table.index])
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    table["avg_order_value"] = table["revenue"] / table["orders"]
    return table[["customers", "customer_share", "revenue", "revenue_share", "orders", "avg_order_value"]]


def migration(segments_before, segments_after):
    """How customers moved between segments from one as_of date to another.

    Returns (counts, shares): rows are the earlier segment, columns the later one; shares
    divide each row by its total.  Customers present at only one date come from or go to the
    "（无）" row/column.  Only segments that occur are shown, in the usual order, （无） last.

    >>> counts, shares = migration(before, after)                 # doctest: +SKIP
    >>> counts
    after         重要价值客户  一般挽留客户  （无）
    before
    重要价值客户          3          1      0
    （无）                1          0      0
    """
    frame = pd.concat([segments_before.rename("before"), segments_after.rename("after")], axis=1)
    frame = frame.fillna(NONE)
    every = SEGMENT_ORDER + [NONE]
    # Counted on category codes (one bincount) rather than by crosstab over a million strings.
    before = pd.Categorical(frame["before"], categories=every).codes.astype(np.int64)
    after = pd.Categorical(frame["after"], categories=every).codes.astype(np.int64)
    if (before < 0).any() or (after < 0).any():
        raise ValueError("migration() takes segment names from segment()")
    cells = np.bincount(before * len(every) + after, minlength=len(every) ** 2).reshape(len(every), len(every))
    counts = pd.DataFrame(cells, index=every, columns=every)
    occurring = (counts.sum(axis=1) + counts.sum(axis=0)) > 0
    labels = [name for name in every if occurring[name]]
    counts = counts.loc[labels, labels]
    counts.index.name, counts.columns.name = "before", "after"
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0).fillna(0.0)
    return counts, shares
