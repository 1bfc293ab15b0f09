"""Stable, named segments: ids carried across retrains, names from centroids, tiers from value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

TIERS = ("Platinum", "Gold", "Silver", "Bronze")
RECOMMENDED_ACTIONS = {
    "Platinum": "Retain: loyalty rewards, premium and early-access offers, personal account care.",
    "Gold": "Grow: cross-sell premium categories, loyalty programme upgrade offers.",
    "Silver": "Activate: targeted bundles and time-limited promotions on favourite categories.",
    "Bronze": "Reactivate at low cost: win-back e-mails, discount vouchers, deal-channel promotions.",
}
# The data's amounts cover the last two years; GMV is annualised over this window.
SPEND_WINDOW_YEARS = 2.0


@dataclass(frozen=True)
class SegmentLabel:
    cluster_index: int
    segment_id: int
    segment_name: str
    tier: str
    recommended_action: str


def cluster_summary(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster index: customers and mean recency, frequency, monetary, annual value per customer."""
    frame = features[["recency_days", "frequency", "monetary", "tenure_days", "campaign_acceptances"]].copy()
    frame["cluster_index"] = labels
    summary = frame.groupby("cluster_index").agg(
        customers=("monetary", "size"), recency_days=("recency_days", "mean"), frequency=("frequency", "mean"),
        monetary=("monetary", "mean"), tenure_days=("tenure_days", "mean"),
        campaign_acceptances=("campaign_acceptances", "mean"))
    summary["annual_value_per_customer"] = summary["monetary"] / SPEND_WINDOW_YEARS
    return summary


def _percentile_rank(population: np.ndarray, value: float) -> float:
    """Share of `population` (sorted ascending) at or below `value`."""
    return float(np.searchsorted(population, value, side="right") / max(len(population), 1))


# Qualifiers that tell apart clusters whose value/activity names collide: (feature, high, low).
QUALIFIERS = (("campaign_acceptances", "Campaign-Engaged", "Campaign-Quiet"), ("tenure_days", "Loyal", "New"),
              ("recency_days", "Fading", "Recent"))


def name_segments(summary: pd.DataFrame, features: pd.DataFrame) -> dict[int, str]:
    """A name per cluster from where its mean sits in the population: value, then activity.

    Value from monetary (High / Mid / Low); activity from frequency and recency (Frequent, Active,
    Occasional, Lapsed). A cluster whose name collides with others' gets a qualifier from the feature
    on which it stands furthest from them (campaign engagement, tenure or recency), then a roman numeral.
    """
    population = {column: np.sort(features[column].to_numpy()) for column in
                  ("monetary", "frequency", "recency_days", "tenure_days", "campaign_acceptances")}
    ranks = pd.DataFrame({column: [_percentile_rank(values, mean) for mean in summary[column]]
                          for column, values in population.items()}, index=summary.index)
    names: dict[int, str] = {}
    for cluster, rank in ranks.iterrows():
        value = "High-Value" if rank["monetary"] >= 0.6 else "Mid-Value" if rank["monetary"] >= 0.35 else "Low-Value"
        if rank["recency_days"] >= 0.6:  # high rank = last purchase long ago
            activity = "Lapsed"
        elif rank["frequency"] >= 0.6:
            activity = "Frequent"
        elif rank["recency_days"] <= 0.4:
            activity = "Active"
        else:
            activity = "Occasional"
        names[int(cluster)] = f"{value} {activity}"
    return _make_unique(names, ranks)


def _make_unique(names: dict[int, str], ranks: pd.DataFrame) -> dict[int, str]:
    unique = dict(names)
    for name in {n for n in names.values() if list(names.values()).count(n) > 1}:
        group = [cluster for cluster, n in names.items() if n == name]
        centre = ranks.loc[group].mean()
        for cluster in group:
            # The feature on which this cluster stands furthest from the others sharing its name.
            feature, high, low = max(QUALIFIERS, key=lambda q: abs(ranks.loc[cluster, q[0]] - centre[q[0]]))
            unique[cluster] = f"{high if ranks.loc[cluster, feature] >= centre[feature] else low} {name}"
    seen: dict[str, int] = {}
    numerals = ["", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X"]
    for cluster in sorted(unique):
        name = unique[cluster]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            unique[cluster] = name + (numerals[seen[name] - 1] if seen[name] <= len(numerals) else f" {seen[name]}")
    return unique


def assign_tiers(annual_value: pd.Series) -> dict[int, str]:
    """Rank clusters by annual value per customer. Up to four: the top tiers in order; more: rank bands."""
    ranked = annual_value.sort_values(ascending=False).index.tolist()
    count = len(ranked)
    if count <= len(TIERS):
        return {int(cluster): TIERS[rank] for rank, cluster in enumerate(ranked)}
    return {int(cluster): TIERS[min(rank * len(TIERS) // count, len(TIERS) - 1)] for rank, cluster in enumerate(ranked)}


def match_clusters(previous: np.ndarray, current: np.ndarray, max_distance: float | None = None) -> dict[int, int]:
    """current cluster index -> previous cluster index, by optimal assignment on centroid distance.

    Both centroid sets must be in the same (current model's) scaled space. Pairs further apart than
    `max_distance` are left unmatched (their clusters get new segment ids).
    """
    if len(previous) == 0 or len(current) == 0:
        return {}
    cost = np.linalg.norm(current[:, None, :] - previous[None, :, :], axis=2)
    rows, columns = linear_sum_assignment(cost)
    return {int(row): int(column) for row, column in zip(rows, columns, strict=True)
            if max_distance is None or cost[row, column] <= max_distance}


def label_segments(summary: pd.DataFrame, features: pd.DataFrame, *, matches: dict[int, int],
                   previous: dict[int, SegmentLabel], next_segment_id: int) -> list[SegmentLabel]:
    """Segment ids and names for a freshly trained model; matched clusters keep their id and name."""
    names = name_segments(summary, features)
    tiers = assign_tiers(summary["annual_value_per_customer"])
    taken = {label.segment_name for cluster, label in previous.items() if cluster in matches.values()}
    labels = []
    for cluster in sorted(names):
        if cluster in matches and matches[cluster] in previous:
            carried = previous[matches[cluster]]
            segment_id, name = carried.segment_id, carried.segment_name
        else:
            segment_id, next_segment_id = next_segment_id, next_segment_id + 1
            name = names[cluster]
            while name in taken:
                name = f"{name} (new)"
        taken.add(name)
        labels.append(SegmentLabel(cluster, segment_id, name, tiers[cluster], RECOMMENDED_ACTIONS[tiers[cluster]]))
    return labels
