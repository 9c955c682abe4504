"""k-means on customer summaries: obvious groups are found and scored, degenerate input is refused clearly."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from analytics import clusters

# (customers, recency_days, purchase_days, revenue) of three well separated kinds of customer.
GROUPS = {"loyal": (30, 10, 20, 10000.0), "lapsed": (50, 300, 1, 100.0), "middle": (40, 60, 5, 1000.0)}


def summary_of(groups, seed=1, noise=0.1):
    """A customer summary with the given groups, each value spread by ±noise (relative)."""
    rng = np.random.default_rng(seed)
    rows, kinds = [], []
    for kind, (count, recency, days, revenue) in groups.items():
        for _ in range(count):
            spread = 1 + rng.uniform(-noise, noise, 3)
            rows.append((round(recency * spread[0]), max(1, round(days * spread[1])), revenue * spread[2]))
            kinds.append(kind)
    frame = pd.DataFrame(rows, columns=list(clusters.FEATURES),
                         index=pd.Index(range(1, len(rows) + 1), name="customer_id"))
    return frame, pd.Series(kinds, index=frame.index)


def test_obvious_groups_are_recovered_and_k_is_chosen_by_silhouette():
    summary, kinds = summary_of(GROUPS)
    result = clusters.kmeans(summary)

    assert result.k == 3
    assert result.silhouettes.idxmax() == 3 and list(result.silhouettes.index) == list(clusters.K_RANGE)
    assert result.silhouette > 0.7
    assert result.silhouette == pytest.approx(result.silhouettes[3], abs=1e-9)  # 120 customers: no sampling
    # Each kind of customer is one cluster, numbered by mean revenue, highest first.
    assert pd.crosstab(kinds, result.labels).gt(0).sum(axis=1).eq(1).all()
    assert [result.labels[kinds == kind].iloc[0] for kind in ("loyal", "middle", "lapsed")] == [1, 2, 3]

    table = result.table
    assert table.index.tolist() == [1, 2, 3]
    assert table["customers"].tolist() == [30, 40, 50]
    assert table["customer_share"].sum() == pytest.approx(1.0)
    assert table.loc[1, "purchase_days"] == pytest.approx(summary.loc[kinds == "loyal", "purchase_days"].mean())
    assert table.loc[3, "recency_days"] == pytest.approx(summary.loc[kinds == "lapsed", "recency_days"].mean())


def test_relative_means_and_verdicts():
    summary, kinds = summary_of(GROUPS)
    result = clusters.kmeans(summary, k=3)
    relative = clusters.relative_means(result, summary)
    loyal_revenue = summary.loc[kinds == "loyal", "revenue"].mean()
    assert relative.loc[1, "revenue"] == pytest.approx(loyal_revenue / summary["revenue"].mean())
    assert relative.loc[1, "revenue"] > 1 > relative.loc[3, "revenue"]
    assert [clusters.silhouette_verdict(v) for v in (0.8, 0.6, 0.3, 0.1)] == [
        "各类界限分明", "分群结构清晰", "分群结构较弱，类与类有所重叠", "没有明显的分群结构"]


def test_a_given_k_is_used_and_a_poor_k_scores_lower():
    summary, _ = summary_of(GROUPS)
    three, six = clusters.kmeans(summary, k=3), clusters.kmeans(summary, k=6)
    assert (three.k, six.k) == (3, 6)
    assert sorted(six.labels.unique()) == [1, 2, 3, 4, 5, 6]
    assert six.silhouettes.index.tolist() == [6]
    assert six.silhouette < three.silhouette


def test_features_are_log_scaled_and_standardised():
    summary, _ = summary_of(GROUPS)
    X = clusters.features(summary)
    assert X.mean().abs().max() < 1e-9 and X.std(ddof=0).to_numpy() == pytest.approx([1, 1, 1])
    # Revenue spans 100..10000: on a log scale the middle group sits between, not next to the low one.
    middle = X.loc[summary["revenue"].between(900, 1100), "revenue"].mean()
    low, high = X["revenue"].min(), X["revenue"].max()
    assert abs(middle - (low + high) / 2) < 0.25 * (high - low)


def test_many_customers_get_a_sampled_but_repeatable_silhouette():
    summary, _ = summary_of({kind: (count * 10, *rest) for kind, (count, *rest) in GROUPS.items()}, noise=0.4)
    first = clusters.kmeans(summary, k=3, sample_size=300)
    again = clusters.kmeans(summary, k=3, sample_size=300)
    assert len(summary) == 1200 and first.silhouette == again.silhouette
    exact = silhouette_score(clusters.features(summary), first.labels)
    assert first.silhouette == pytest.approx(exact, abs=0.05)
    assert first.silhouette != exact  # it really was a sample


@pytest.mark.parametrize("k, customers, message", [
    (5, 3, "客户数（3）不足以分成 5 类"),
    (3, 3, "客户数（3）不足以分成 3 类"),
    (None, 2, "客户太少"),
    (None, 1, "客户太少（1 位"),
    (2, 1, "客户数（1）不足以分成 2 类"),
])
def test_fewer_customers_than_clusters_is_refused(k, customers, message):
    summary, _ = summary_of({"a": (customers, 30, 3, 500.0)}, noise=0.5)
    with pytest.raises(clusters.ClusterError, match=message):
        clusters.kmeans(summary, k=k)


def test_identical_or_too_uniform_customers_are_refused():
    same = pd.DataFrame({"recency_days": [5] * 10, "purchase_days": [2] * 10, "revenue": [80.0] * 10})
    with pytest.raises(clusters.ClusterError, match="完全相同"):
        clusters.kmeans(same)
    with pytest.raises(clusters.ClusterError, match="完全相同"):
        clusters.kmeans(same, k=2)
    two_kinds = pd.concat([same, same.assign(revenue=800.0)])
    with pytest.raises(clusters.ClusterError, match="只有 2 种不同的取值，少于聚类数 3"):
        clusters.kmeans(two_kinds, k=3)
    assert clusters.kmeans(two_kinds).k == 2  # choosing k stays within what the data allows


def test_no_customers_or_k_below_two_is_refused():
    empty = pd.DataFrame(columns=list(clusters.FEATURES))
    with pytest.raises(clusters.ClusterError, match="没有客户"):
        clusters.kmeans(empty)
    summary, _ = summary_of(GROUPS)
    with pytest.raises(clusters.ClusterError, match="至少为 2"):
        clusters.kmeans(summary, k=1)
