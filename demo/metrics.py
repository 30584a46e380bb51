"""Next-item metrics over served lists, and the small statistics the report prints (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np


def rank_of(target: str, ranked: Sequence[str]) -> int | None:
    """1-based position of ``target`` in ``ranked``, or None."""
    try:
        return ranked.index(target) + 1
    except ValueError:
        return None


def ndcg_at(target: str, ranked: Sequence[str], k: int) -> float:
    """NDCG@k with one relevant item: 1/log2(rank+1) when it is in the top k (the ideal DCG is 1)."""
    r = rank_of(target, list(ranked[:k]))
    return 0.0 if r is None else 1.0 / math.log2(r + 1)


def recall_at(target: str, ranked: Sequence[str], k: int) -> float:
    """Recall@k with one relevant item (a hit rate)."""
    return 1.0 if target in ranked[:k] else 0.0


def genre_entropy(items: Sequence[str], genres_of: Mapping[str, Sequence[str]]) -> float:
    """Shannon entropy (bits) of the genre mix of a list; an item's weight is split over its genres."""
    mass: Counter[str] = Counter()
    for item in items:
        gs = genres_of.get(item) or ("Other",)
        for g in gs:
            mass[g] += 1.0 / len(gs)
    total = sum(mass.values())
    if total == 0:
        return 0.0
    p = np.array([v / total for v in mass.values()])
    return float(-(p * np.log2(p)).sum())


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..}`` of the values (NaN when there are none)."""
    arr = np.asarray(values, dtype=float)
    return {f"p{q:g}": float(np.percentile(arr, q)) if arr.size else math.nan for q in qs}
