"""k-means clusters of customers on recency, frequency and spend, with a silhouette check.

Input is analytics.queries.customer_summary.  The features are recency_days, purchase_days and
revenue, each log(1 + x) (all three are skewed: a few customers buy far more often and spend
far more than the rest) and then standardised, so each weighs the same in the distances.

The silhouette (−1 to 1) says how well separated the clusters are: near 1, each customer is much
closer to its own cluster than to the next; near 0, the clusters overlap; below 0, customers sit
in the wrong cluster.  It costs O(n²), so above SAMPLE_SIZE customers it is computed on a sample
drawn with a fixed seed (the same data always gives the same number).  Asked to choose k, the
module fits every k in K_RANGE to such a sample and keeps the k with the highest silhouette.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

FEATURES = ("recency_days", "purchase_days", "revenue")
K_RANGE = range(2, 9)
SAMPLE_SIZE = 5000
SEED = 0


class ClusterError(ValueError):
    """The customers cannot be clustered as asked; the message is for people."""


@dataclass
class Clustering:
    k: int
    labels: pd.Series  # cluster 1..k per customer; cluster 1 has the highest mean revenue
    table: pd.DataFrame  # per cluster: customers, customer_share and the mean of each feature
    silhouette: float  # of the clustering returned
    silhouettes: pd.Series  # k -> silhouette for every k tried (only k when it was given)


def features(summary):
    """The standardised log features, one row per customer (index as summary)."""
    raw = summary[list(FEATURES)].astype(float).clip(lower=0)
    scaled = StandardScaler().fit_transform(np.log1p(raw))
    return pd.DataFrame(scaled, index=summary.index, columns=list(FEATURES))


def kmeans(summary, k=None, k_range=K_RANGE, sample_size=SAMPLE_SIZE, seed=SEED):
    """Cluster the customers into k groups, or into the k of k_range with the best silhouette.

    Raises ClusterError when there are no customers, fewer customers than k + 1, or fewer
    distinct customers (equal recency, purchase days and revenue) than k.
    """
    if k is not None and k < 2:
        raise ClusterError(f"聚类数至少为 2，收到 {k}")
    if summary.empty:
        raise ClusterError("没有客户，无法聚类")
    X = features(summary)
    n, distinct = len(X), len(X.drop_duplicates())
    if k is not None and n <= k:
        raise ClusterError(f"客户数（{n}）不足以分成 {k} 类，至少需要 {k + 1} 位客户")
    if n > 1 and distinct < 2:
        raise ClusterError("所有客户的最近购买、购买次数和消费金额完全相同，无法聚类")
    if k is None:
        candidates = [c for c in k_range if c <= distinct and c < n]
        if not candidates:
            raise ClusterError(f"客户太少（{n} 位，{distinct} 种不同取值），无法在 {min(k_range)}–{max(k_range)} 类中选择")
        sample = X.sample(n=min(n, sample_size), random_state=seed).to_numpy()
        silhouettes = pd.Series({c: _silhouette(sample, _fit(sample, c, seed), sample_size, seed)
                                 for c in candidates if c < len(sample)}, dtype=float)
        k = int(silhouettes.idxmax())
    else:
        if distinct < k:
            raise ClusterError(f"客户只有 {distinct} 种不同的取值，少于聚类数 {k}")
        silhouettes = None
    raw_labels = _fit(X.to_numpy(), k, seed)
    silhouette = _silhouette(X.to_numpy(), raw_labels, sample_size, seed)
    if silhouettes is None:
        silhouettes = pd.Series({k: silhouette}, dtype=float)
    silhouettes.index.name = "k"
    labels, table = _describe(summary, raw_labels)
    return Clustering(k=k, labels=labels, table=table, silhouette=silhouette, silhouettes=silhouettes)


def relative_means(result, summary):
    """Each cluster's feature means divided by the mean over all customers (1 = average)."""
    overall = summary[list(FEATURES)].astype(float).mean()
    return result.table[list(FEATURES)] / overall.where(overall != 0)


def silhouette_verdict(value):
    """A few words on a silhouette for the report (Kaufman & Rousseeuw's rule of thumb)."""
    if value > 0.7:
        return "各类界限分明"
    if value > 0.5:
        return "分群结构清晰"
    if value > 0.25:
        return "分群结构较弱，类与类有所重叠"
    return "没有明显的分群结构"


def _fit(X, k, seed):
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)


def _silhouette(X, labels, sample_size, seed):
    size = sample_size if len(X) > sample_size else None
    return float(silhouette_score(X, labels, sample_size=size, random_state=seed))


def _describe(summary, raw_labels):
    """Labels renumbered 1..k by mean revenue (highest first) and the per-cluster table."""
    frame = summary[list(FEATURES)].astype(float).assign(cluster=raw_labels)
    means = frame.groupby("cluster").mean()
    order = {old: new for new, old in enumerate(means["revenue"].sort_values(ascending=False).index, 1)}
    labels = pd.Series(raw_labels, index=summary.index, name="cluster").map(order)
    table = frame.assign(cluster=labels).groupby("cluster").agg(
        customers=("revenue", "size"), **{name: (name, "mean") for name in FEATURES})
    table.insert(1, "customer_share", table["customers"] / table["customers"].sum())
    return labels, table
