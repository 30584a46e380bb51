"""Candidate blending: the FOR_YOU query vector mixes the long-term (ALS) user vector with the fresh session
vector (mean embedding of the recent items), so a new session moves the row within a second."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.zeros_like(v)


def blend_query(user_vec: np.ndarray | None, session_vec: np.ndarray | None, session_weight: float
                ) -> np.ndarray | None:
    """Unit query vector ``(1-w)·û + w·ŝ``; the other one alone when one is missing; None when both are."""
    parts = [(v, w) for v, w in ((user_vec, 1.0 - session_weight), (session_vec, session_weight))
             if v is not None and np.linalg.norm(v) > 0]
    if not parts:
        return None
    if len(parts) == 1:
        return _unit(np.asarray(parts[0][0], dtype=np.float32)).astype(np.float32)
    q = sum(w * _unit(np.asarray(v, dtype=np.float32)) for v, w in parts)
    return _unit(np.asarray(q, dtype=np.float32)).astype(np.float32)


def top_genres(*profiles: np.ndarray | None, n: int) -> list[int]:
    """Genre axis positions of the user's strongest genres: the sum of the given (normalised) profiles."""
    acc: np.ndarray | None = None
    for p in profiles:
        if p is None:
            continue
        p = np.asarray(p, dtype=np.float64)
        s = p.sum()
        if s <= 0:
            continue
        acc = p / s if acc is None else acc + p / s
    if acc is None:
        return []
    order = np.argsort(-acc, kind="stable")
    return [int(g) for g in order[:n] if acc[g] > 0]


def fuse(*ranked: Sequence[str], k: int = 60) -> tuple[list[str], list[float]]:
    """Reciprocal-rank fusion of candidate lists (e.g. FAISS neighbours and the batch top-K): each item scores
    ``Σ 1/(k + rank)`` over the lists it is in, best first (ties keep first-seen order). Rank-based, so lists
    whose scores are on different scales merge without calibration; the model re-scores them anyway."""
    score: dict[str, float] = {}
    for items in ranked:
        for r, item in enumerate(items):
            score[item] = score.get(item, 0.0) + 1.0 / (k + r + 1)
    order = sorted(score, key=lambda i: -score[i])
    return order, [score[i] for i in order]
