"""Genre-entropy-aware re-ranking: greedy selection trading the model's score against the genre entropy the
item adds to the row, so a row does not collapse onto one genre (ADR-001's diversity guardrail)."""

from __future__ import annotations

import math

import numpy as np

_TINY = 1e-300


def entropy(mass: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of genre mass vectors along the last axis (all-zero rows give 0)."""
    total = mass.sum(-1, keepdims=True)
    p = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(-1)


def rerank(scores: np.ndarray, genres: np.ndarray, k: int, weight: float) -> list[int]:
    """Indices of ``k`` picks, in order. ``weight`` 0 is plain score order; 1 maximises genre entropy.

    Scores are min-max normalised over the candidates and the entropy gain by ``log(n_genres)``, so the
    weight means the same for any model and any genre axis.
    """
    n = len(scores)
    k = min(k, n)
    if n == 0 or k == 0:
        return []
    s = np.asarray(scores, dtype=np.float64)
    spread = float(s.max() - s.min())
    norm = (s - s.min()) / spread if spread > 0 else np.zeros(n)
    if weight <= 0:
        return [int(i) for i in np.argsort(-norm, kind="stable")[:k]]
    g = np.asarray(genres, dtype=np.float64)
    scale = math.log(max(g.shape[1], 2))
    g = g[:, g.any(0)]  # genres no candidate has cannot change any entropy
    gsum = g.sum(1)
    mass = np.zeros(g.shape[1])
    total, current = 0.0, 0.0
    relevance = (1.0 - weight) * norm
    picks: list[int] = []
    # Entropy of mass m with total T is log T − Σ m·log m / T: one log per cell and step, few numpy calls
    # (this loop runs once per slot of every row, so its constant cost is the latency).
    for _ in range(k):
        m = mass + g
        t = total + gsum
        s = (m * np.log(np.maximum(m, _TINY))).sum(1)
        tt = np.maximum(t, _TINY)
        h = np.where(t > 0, np.log(tt) - s / tt, 0.0)
        value = relevance + (weight / scale) * (h - current)
        value[picks] = -np.inf
        best = int(np.argmax(value))
        picks.append(best)
        mass += g[best]
        total += gsum[best]
        current = float(h[best])
    return picks
