"""Ranking metrics on plain Python/numpy data: the one implementation the nightly gate, the replay harness and
the demo all score with, so an offline gate and a served measurement cannot disagree on what NDCG means.

Every function takes the ranked list of recommended item ids and the set of relevant item ids of one *case*.
A case is a user of a holdout (several relevant items) or one replay target (one relevant item: the next item,
so Recall@k is the hit rate). Cases without relevant items are skipped by :func:`evaluate`: they carry no signal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant items found in the top k (monotone in k; below 1 when |relevant| > k)."""
    if not relevant:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / len(relevant)


def hit_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """1 when any relevant item is in the top k (HR@k; equals Recall@k with one relevant item)."""
    return 1.0 if any(item in relevant for item in ranked[:k]) else 0.0


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


def catalog_coverage(recommendations: Mapping[Hashable, Sequence[str]], catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in at least one case's top k (popularity covers ~k/N)."""
    if catalog_size <= 0:
        return 0.0
    shown = {item for ranked in recommendations.values() for item in ranked[:k]}
    return len(shown) / catalog_size


def genre_entropy(ranked: Sequence[str], item_genres: Mapping[str, Sequence[float]], k: int) -> float:
    """Shannon entropy (bits) of the genre mix of one top k; higher means a more diverse row. Genres are
    vectors on one axis (``hybridrec.contract.genre_vector``: a multi-genre item splits its weight)."""
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


def novelty_floor(item_share: Mapping[str, float]) -> float:
    """Half the smallest positive share: what :func:`novelty` gives items the training never saw."""
    return min((v for v in item_share.values() if v > 0), default=1.0) / 2


def evaluate(
    recommendations: Mapping[Hashable, Sequence[str]],
    relevant: Mapping[Hashable, set[str]],
    k_values: Sequence[int],
    *,
    catalog_size: int,
    item_genres: Mapping[str, Sequence[float]],
    item_share: Mapping[str, float],
    novelty_floor: float,
) -> dict[str, float]:
    """All metrics averaged over the cases that have relevant items; keys like ``ndcg@10``, and ``cases``."""
    cases = [c for c in recommendations if relevant.get(c)]
    out: dict[str, float] = {"cases": float(len(cases))}
    n = max(len(cases), 1)
    for k in k_values:
        out[f"recall@{k}"] = sum(recall_at_k(recommendations[c], relevant[c], k) for c in cases) / n
        out[f"hr@{k}"] = sum(hit_at_k(recommendations[c], relevant[c], k) for c in cases) / n
        out[f"ndcg@{k}"] = sum(ndcg_at_k(recommendations[c], relevant[c], k) for c in cases) / n
        out[f"map@{k}"] = sum(average_precision_at_k(recommendations[c], relevant[c], k) for c in cases) / n
        out[f"coverage@{k}"] = catalog_coverage({c: recommendations[c] for c in cases}, catalog_size, k)
        out[f"genre_entropy@{k}"] = sum(genre_entropy(recommendations[c], item_genres, k) for c in cases) / n
        out[f"novelty@{k}"] = sum(novelty(recommendations[c], item_share, k, novelty_floor) for c in cases) / n
    return out


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..}`` of the values (NaN when there are none)."""
    arr = np.asarray(values, dtype=float)
    return {f"p{q:g}": float(np.percentile(arr, q)) if arr.size else math.nan for q in qs}
