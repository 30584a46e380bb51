"""Item-to-item neighbours by session co-occurrence: the one definition the nightly batch publishes with a model
version (serving's FOR_YOU candidates and score) and the replay's item-to-item baseline is fit with.

Items engaged close together in a user's sequence are neighbours: every pair at most ``window`` positions apart
counts ``1/distance`` (both ways; an item next to itself does not count), and the sum is cosine-normalised by
the two items' engagement counts, so a blockbuster is not everyone's neighbour. A user is scored from their
newest engagements, the ``age``-th newest weighted ``decay**age`` (session kNN in spirit): the newest events
say most about what comes next.

The lists are held as CSR rows (``indptr``/``indices``/``scores``, each row best first), optionally cut to the
best ``k`` per item: memory grows with the pairs seen, not with the catalog squared, and scoring touches only
the rows of the user's seeds (a few thousand numbers), never the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np


@dataclass(frozen=True)
class Neighbours:
    """Each item's neighbours (positions in the caller's item vocabulary) and scores, best first."""

    indptr: np.ndarray  # (n_items + 1,) int64
    indices: np.ndarray  # int32
    scores: np.ndarray  # float32

    @property
    def n_items(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def empty(cls, n_items: int) -> Neighbours:
        return cls(np.zeros(n_items + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))

    def of(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour positions and scores of one item, best first."""
        lo, hi = int(self.indptr[item]), int(self.indptr[item + 1])
        return self.indices[lo:hi], self.scores[lo:hi]

    def save(self, path: Path) -> None:
        """As an ``.npz`` of three plain arrays (the registry artifact; serving reads it with numpy only)."""
        with path.open("wb") as f:
            np.savez(f, indptr=self.indptr, indices=self.indices, scores=self.scores)

    @classmethod
    def load(cls, path: Path) -> Neighbours:
        with np.load(path, allow_pickle=False) as z:
            out = cls(z["indptr"].astype(np.int64), z["indices"].astype(np.int32), z["scores"].astype(np.float32))
        if out.indptr[0] != 0 or out.indptr[-1] != len(out.indices) or len(out.indices) != len(out.scores):
            raise ValueError(f"{path.name}: inconsistent neighbour lists")
        if np.any(np.diff(out.indptr) < 0) or (len(out.indices) and out.indices.max() >= out.n_items):
            raise ValueError(f"{path.name}: neighbour positions outside the item vocabulary")
        return out


def cooccurrence(
    sequences: Iterable[Sequence[int]],
    counts: np.ndarray,
    window: int,
    k: int | None = None,
    *,
    backward: float = 1.0,
    alpha: float = 0.5,
    damping: float = 0.0,
) -> Neighbours:
    """Neighbours of every item from users' engagement sequences (item positions, oldest first); ``counts``
    the engagements per item (the norm); ``k`` keeps each item's best k (None: all).

    The defaults are the symmetric, cosine-normalised method (the replay's item-to-item baseline). ``backward``
    weighs a pair read against time (b's list gains a when a came *before* b) relative to one read forwards:
    below 1 the lists lean to what users engage with *next*, which is what a next-item row asks (sequential
    rules). ``alpha`` is the asymmetric cosine's exponent (Aiolli): the list of a divides by count_a^alpha ·
    count_b^(1 − alpha), so below 0.5 a popular neighbour b is penalised more. ``damping`` weighs each user's
    pairs by (their sequence length)^−damping, so one heavy user's hundreds of engagements do not make every
    pair among them a neighbour (inverse user frequency)."""
    n = len(counts)
    keys: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        user = float(len(s)) ** -damping if damping else 1.0
        for d in range(1, min(window, len(s) - 1) + 1):
            a, b = s[:-d], s[d:]
            keep = a != b
            m = int(keep.sum())
            keys.append(a[keep] * n + b[keep])
            weights.append(np.full(m, user / d))
            if backward > 0:
                keys.append(b[keep] * n + a[keep])
                weights.append(np.full(m, backward * user / d))
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    if not len(key):  # no pair of distinct items within the window (e.g. every sequence one item repeated)
        return Neighbours.empty(n)
    # Sum the weights of equal pairs: one sort of the keys, then a segmented sum (cheaper than np.unique's
    # inverse); the pairs come out ordered by row, then column.
    order = np.argsort(key)
    key, weight = key[order], np.concatenate(weights)[order]
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    pair, w = key[first], np.add.reduceat(weight, first)
    rows, cols = pair // n, pair % n
    # sqrt(count) raised to 2·alpha and 2·(1 − alpha): at alpha 0.5 both powers are 1, the plain cosine exactly.
    root = np.sqrt(np.maximum(np.asarray(counts, dtype=np.float64), 1.0))
    w = w / root[rows] ** (2.0 * alpha) / root[cols] ** (2.0 * (1.0 - alpha))
    # Within each row best first, ties by column: one stable sort of row + (a fraction falling with the weight).
    order = np.argsort(rows + (1.0 - 0.999 * w / w.max()), kind="stable")
    rows, cols, w = rows[order], cols[order], w[order]
    starts = np.searchsorted(rows, np.arange(n + 1))
    if k is not None:
        rank = np.arange(len(rows)) - starts[rows]
        keep = rank < k
        rows, cols, w = rows[keep], cols[keep], w[keep]
        starts = np.searchsorted(rows, np.arange(n + 1))
    return Neighbours(starts.astype(np.int64), cols.astype(np.int32), w.astype(np.float32))


def seed_weights(n_seeds: int, decay: float) -> np.ndarray:
    """Weight of the ``age``-th newest seed: ``decay**age``."""
    return (decay ** np.arange(n_seeds)).astype(np.float32)


def gather(nb: Neighbours, seeds_newest_first: Sequence[int], decay: float) -> tuple[np.ndarray, np.ndarray]:
    """The recency-weighted neighbours of the seeds, unsummed: (positions, weighted scores), one entry per
    (seed, neighbour) pair. Seeds outside the vocabulary (negative) are skipped."""
    parts = [
        (nb.of(s), w)
        for s, w in zip(seeds_newest_first, seed_weights(len(seeds_newest_first), decay), strict=True)
        if 0 <= s < nb.n_items
    ]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    pos = np.concatenate([p for (p, _), _ in parts]).astype(np.int64)
    score = np.concatenate([s * w for (_, s), w in parts])
    return pos, score


def score_all(nb: Neighbours, seeds_newest_first: Sequence[int], decay: float) -> np.ndarray:
    """Every item's score for a user whose newest engagements are ``seeds_newest_first`` (dense): the sum of
    :func:`gather`'s entries per item, in one compiled pass over the seeds' lists (serving calls this per
    request for every part of FOR_YOU's prior, where the gathered copies and the bincount cost more than the
    sums themselves)."""
    seeds = np.asarray(seeds_newest_first, dtype=np.int64).reshape(-1)
    return _score_all(nb.indptr, nb.indices, nb.scores, seeds, seed_weights(len(seeds), decay))


@numba.njit(
    numba.float32[:](numba.int64[:], numba.int32[:], numba.float32[:], numba.int64[:], numba.float32[:]),
    cache=True,
    nogil=True,
)
def _score_all(
    indptr: np.ndarray, indices: np.ndarray, scores: np.ndarray, seeds: np.ndarray, weights: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled; tested through score_all
    """Σ over the seeds in the vocabulary of weight × each neighbour's score, per neighbour: the float32
    products summed in float64 in :func:`gather`'s order (what ``np.bincount`` of its entries gives)."""
    n_items = len(indptr) - 1
    total = np.zeros(n_items, dtype=np.float64)
    for k in range(len(seeds)):
        s = seeds[k]
        if s < 0 or s >= n_items:
            continue
        w = weights[k]
        for e in range(indptr[s], indptr[s + 1]):
            total[indices[e]] += scores[e] * w
    return total.astype(np.float32)


def top(nb: Neighbours, seeds_newest_first: Sequence[int], decay: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` items for the seeds (positions, scores; best first, ties by position), summed over the
    seeds' lists only: what serving asks per request."""
    pos, score = gather(nb, seeds_newest_first, decay)
    if not len(pos):
        return pos, score
    items, inverse = np.unique(pos, return_inverse=True)
    total = np.bincount(inverse, weights=score).astype(np.float32)
    order = np.lexsort((items, -total))[:n]
    return items[order], total[order]


def ease(sequences: Iterable[Sequence[int]], n_items: int, lam: float, k: int, max_items: int) -> Neighbours:
    """EASE's item-item weights (Steck, 2019) as neighbour lists: B = I − P/diag(P), P = (XᵀX + λI)⁻¹ over the
    binary user × item matrix of ``sequences`` (item positions), row j holding the ``k`` largest positive B[j, i]
    (what engaging with j adds to i's score). A user is scored by summing the rows of everything they engaged
    with (:func:`score_all`, decay 1). Only the ``max_items`` most engaged items (and those engaged by at least
    two users) take part: the inverse is cubic in them and holds three dense matrices of that side."""
    rows = [np.unique(np.asarray(s, dtype=np.int64)) for s in sequences]
    users = np.bincount(np.concatenate(rows), minlength=n_items) if rows else np.zeros(n_items, np.int64)
    keep = np.flatnonzero(users >= 2)
    keep = np.sort(keep[np.argsort(-users[keep], kind="stable")[:max_items]])
    if not len(keep):
        return Neighbours.empty(n_items)
    col = np.full(n_items, -1, np.int64)
    col[keep] = np.arange(len(keep))
    x = np.zeros((len(rows), len(keep)), np.float32)
    for r, s in enumerate(rows):
        c = col[s]
        x[r, c[c >= 0]] = 1.0
    g = (x.T @ x).astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = (-p / np.diag(p)).astype(np.float32)
    np.fill_diagonal(b, 0.0)
    del g, p
    kk = min(k, len(keep) - 1)
    top = np.argpartition(-b, kk - 1, axis=1)[:, :kk] if kk > 0 else np.zeros((len(keep), 0), np.int64)
    w = np.take_along_axis(b, top, axis=1)
    order = np.argsort(-w, axis=1, kind="stable")
    top, w = np.take_along_axis(top, order, axis=1), np.take_along_axis(w, order, axis=1)
    counts = np.zeros(n_items, np.int64)
    counts[keep] = (w > 0).sum(axis=1)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    positive = w > 0
    return Neighbours(indptr, keep[top[positive]].astype(np.int32), w[positive].astype(np.float32))
