"""Offline ranking metrics on plain Python/numpy data, so they are tested without Spark or torch.

Every function takes, per user, the ranked list of recommended item ids and the set of relevant (held-out)
item ids. Users without relevant items are skipped by the caller: they carry no signal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant items found in the top k (monotone in k; below 1 when |relevant| > k)."""
    if not relevant:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-gain NDCG: DCG of the top k over the DCG of a perfect top k."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def average_precision_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """AP@k: mean of precision@i at each hit i ≤ k, over min(k, |relevant|)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(ranked[:k]):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(k, len(relevant))


def catalog_coverage(recommendations: Mapping[str, Sequence[str]], catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k (popularity covers ~k/N)."""
    if catalog_size <= 0:
        return 0.0
    shown = {item for ranked in recommendations.values() for item in ranked[:k]}
    return len(shown) / catalog_size


def genre_entropy(ranked: Sequence[str], item_genres: Mapping[str, Sequence[float]], k: int) -> float:
    """Shannon entropy (bits) of the genre mix of one top k; higher means a more diverse row."""
    mass: Counter[int] = Counter()
    for item in ranked[:k]:
        for g, w in enumerate(item_genres.get(item, ())):
            if w > 0:
                mass[g] += float(w)
    total = sum(mass.values())
    if total <= 0:
        return 0.0
    return -sum((m / total) * math.log2(m / total) for m in mass.values())


def novelty(ranked: Sequence[str], item_share: Mapping[str, float], k: int, floor: float) -> float:
    """Mean self-information -log2(p(item)) of the top k, p = the item's share of training events;
    unseen items get ``floor`` (e.g. half of one event's share) so they count as the most novel."""
    top = ranked[:k]
    if not top:
        return 0.0
    return sum(-math.log2(max(item_share.get(i, 0.0), floor)) for i in top) / len(top)


def evaluate(
    recommendations: Mapping[str, Sequence[str]],
    relevant: Mapping[str, set[str]],
    k_values: Sequence[int],
    *,
    catalog_size: int,
    item_genres: Mapping[str, Sequence[float]],
    item_share: Mapping[str, float],
    novelty_floor: float,
) -> dict[str, float]:
    """All metrics averaged over the users that have relevant items; keys like ``ndcg@10``."""
    users = [u for u in recommendations if relevant.get(u)]
    out: dict[str, float] = {"users": float(len(users))}
    for k in k_values:
        n = max(len(users), 1)
        out[f"recall@{k}"] = sum(recall_at_k(recommendations[u], relevant[u], k) for u in users) / n
        out[f"ndcg@{k}"] = sum(ndcg_at_k(recommendations[u], relevant[u], k) for u in users) / n
        out[f"map@{k}"] = sum(average_precision_at_k(recommendations[u], relevant[u], k) for u in users) / n
        out[f"coverage@{k}"] = catalog_coverage({u: recommendations[u] for u in users}, catalog_size, k)
        out[f"genre_entropy@{k}"] = sum(genre_entropy(recommendations[u], item_genres, k) for u in users) / n
        out[f"novelty@{k}"] = sum(
            novelty(recommendations[u], item_share, k, novelty_floor) for u in users
        ) / n
    return out
