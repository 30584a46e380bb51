"""Genre-entropy-aware re-ranking: greedy selection trading the model's score against the genre entropy the
item adds to the row, so a row does not collapse onto one genre (ADR-001's diversity guardrail).

The greedy loop is sequential per slot and per row (each pick changes the row's genre mass, and an item one row
takes is gone for the rows after it), so it runs as one compiled loop (numba, :func:`_rerank`) over every row of
a page: as numpy it was a dozen small array calls per slot, ≈ 0.4 ms per page (docs/benchmarks.md, #18).
The Python side only lays the rows out as arrays and maps the item ids to integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np


def entropy(mass: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of genre mass vectors along the last axis (all-zero rows give 0)."""
    total = mass.sum(-1, keepdims=True)
    p = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(-1)


def entropy_bits(rows: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """Genre entropy (bits) of each row of item positions (rows × k, −1: an empty slot) over ``genres`` (items ×
    genres): ``hybridrec.metrics.genre_entropy`` of many rows at once."""
    rows = np.asarray(rows, np.int64)
    mass = np.where(rows[..., None] >= 0, genres[np.maximum(rows, 0)], 0.0).sum(1)
    return entropy(mass) / math.log(2)


def rerank(scores: np.ndarray, genres: np.ndarray, k: int, weight: float) -> list[int]:
    """Indices of ``k`` picks, in order. ``weight`` 0 is plain score order; 1 maximises genre entropy.

    Scores are min-max normalised over the candidates and the entropy gain by ``log(n_genres)``, so the
    weight means the same for any model and any genre axis.
    """
    return rerank_rows([scores], [genres], k, weight)[0]


def rerank_rows(
    scores: Sequence[np.ndarray],
    genres: Sequence[np.ndarray],
    k: int,
    weight: float | Sequence[float],
    keys: Sequence[Sequence[object]] | None = None,
    slots: int | Sequence[int] | None = None,
    head: int | Sequence[int] = 0,
) -> list[list[int]]:
    """:func:`rerank` of several rows at once. With ``keys`` (one id per candidate), an id is picked by at
    most one row: slot by slot the rows pick in row order, an item taken is gone for the other rows, and a
    row whose best is gone takes its next best (dedupe across rows without re-ranking them one after another;
    an earlier row wins an item two rows want at the same slot).

    ``slots``: only the first ``slots`` positions of each row are chosen greedily for genre entropy (what
    the first screen shows); the rest follow in score order, with the same cross-row rule. ``weight`` and ``slots``
    may also be given per row (a row whose scores mean something else — the fusion's confidence — trades them
    against entropy at its own rate). ``head``: of those greedy slots, the first ``head`` take score order (their
    genres still count in the row's mix): the items the scorer is surest of keep the first places, later slots
    trade for genres (per row too)."""
    n_rows = len(scores)
    sizes = [len(s) for s in scores]
    n = max(sizes, default=0)
    if n == 0 or k <= 0:
        return [[] for _ in range(n_rows)]
    width = genres[0].shape[1] if len(genres[0].shape) == 2 else 0
    norm = np.zeros((n_rows, n))
    valid = np.zeros((n_rows, n), dtype=np.bool_)
    g = np.zeros((n_rows, n, width))
    for r, (s, gen) in enumerate(zip(scores, genres, strict=True)):
        m = sizes[r]
        if m == 0:
            continue
        s = np.asarray(s, dtype=np.float64)
        lo, spread = float(s.min()), float(s.max() - s.min())
        norm[r, :m] = (s - lo) / spread if spread > 0 else 0.0
        valid[r, :m] = True
        g[r, :m] = gen
    key_ids, n_keys = _key_ids(keys, n_rows, n)
    weights = np.broadcast_to(np.asarray(weight, np.float64), (n_rows,)).copy()
    per_row = np.broadcast_to(np.asarray(k if slots is None else slots, np.int64), (n_rows,))
    greedy = np.where(weights > 0, np.clip(per_row, 0, k), 0).astype(np.int64)
    heads = np.broadcast_to(np.asarray(head, np.int64), (n_rows,)).copy()
    picks, counts = _rerank(norm, valid, g, k, weights, greedy, heads, key_ids, n_keys)
    return [picks[r, : counts[r]].tolist() for r in range(n_rows)]


def _key_ids(keys: Sequence[Sequence[object]] | None, n_rows: int, n: int) -> tuple[np.ndarray, int]:
    """Each candidate's id as a small integer (rows × n, -1 past a row's end) and how many ids there are.
    Keys that are non-negative integer arrays already (model positions: assembly's usual case) are used as they
    are; any other keys are numbered through a dict."""
    out = np.full((n_rows, n), -1, dtype=np.int64)
    if keys is None:
        return out, 0
    if all(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in keys):
        for r, k in enumerate(keys):
            out[r, : len(k)] = k
        return out, int(out.max()) + 1
    ids: dict[object, int] = {}
    for r, row in enumerate(keys):
        out[r, : len(row)] = [ids.setdefault(key, len(ids)) for key in row]
    return out, len(ids)


@numba.njit(cache=True, nogil=True)
def _claim(
    r: int,
    b: int,
    tried: np.ndarray,
    key_ids: np.ndarray,
    taken: np.ndarray,
    picks: np.ndarray,
    counts: np.ndarray,
) -> bool:  # pragma: no cover - compiled; tested through rerank_rows
    """The cross-row rule, once for the greedy and the score-order slots: row ``r`` has now tried ``b`` and takes
    it unless another row took its id (then the caller tries the row's next best). Rows ask slot by slot in row
    order, so an earlier row wins."""
    tried[r, b] = True
    kid = key_ids[r, b]
    if kid >= 0:
        if taken[kid]:
            return False
        taken[kid] = True
    picks[r, counts[r]] = b
    counts[r] += 1
    return True


@numba.njit(cache=True, nogil=True)
def _xlogx_step(m: float, x: float) -> float:  # pragma: no cover - compiled; tested through rerank_rows
    """f(m + x) − f(m), f(y) = y·log y (f(0) = 0): how adding genre mass ``x`` changes Σ_j m_j·log m_j."""
    return (m + x) * math.log(m + x) - (m * math.log(m) if m > 0.0 else 0.0)


@numba.njit(
    numba.types.Tuple((numba.int64[:, :], numba.int64[:]))(
        numba.float64[:, :],
        numba.boolean[:, :],
        numba.float64[:, :, :],
        numba.int64,
        numba.float64[:],
        numba.int64[:],
        numba.int64[:],
        numba.int64[:, :],
        numba.int64,
    ),
    cache=True,
    nogil=True,
)
def _rerank(
    norm: np.ndarray,
    valid: np.ndarray,
    g: np.ndarray,
    k: int,
    weight: np.ndarray,
    greedy: np.ndarray,
    head: np.ndarray,
    key_ids: np.ndarray,
    n_keys: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; its behaviour is tested through rerank_rows
    """Picks (rows × k, -1 past each row's count) and counts. Slot by slot, each row in order takes the
    candidate of best value it has not tried that no earlier row took (an item another row has is tried once,
    then skipped). A row's first ``greedy[r]`` slots value a candidate as (1 − w)·score + w / log(G) · H(row + item)
    (w = ``weight[r]``, 0 in the row's first ``head[r]`` slots; H of the row itself is the same for every
    candidate, so it drops out); the rest take score order, once every row's greedy slots are placed."""
    n_rows, n, width = g.shape
    tried = ~valid
    picks = np.full((n_rows, max(k, 1)), -1, dtype=np.int64)
    counts = np.zeros(n_rows, dtype=np.int64)
    want = np.minimum(valid.sum(axis=1), k)
    taken = np.zeros(max(n_keys, 1), dtype=np.bool_)
    scale = 1.0 / math.log(max(width, 2))  # entropy in [0, 1]
    mass = np.zeros((n_rows, width))
    total = np.zeros(n_rows)
    flogf = np.zeros(n_rows)  # Σ_j m_j·log m_j of the row's mass
    value = np.empty(n)
    for _ in range(greedy.max() if n_rows else 0):
        live = 0
        for r in range(n_rows):
            if counts[r] >= want[r] or counts[r] >= greedy[r]:
                continue
            w = weight[r] if counts[r] >= head[r] else 0.0
            for b in range(n):
                if tried[r, b]:
                    value[b] = -np.inf
                    continue
                delta, added = 0.0, 0.0
                for j in range(width):
                    x = g[r, b, j]
                    if x > 0.0:
                        delta += _xlogx_step(mass[r, j], x)
                        added += x
                t = total[r] + added
                h = math.log(t) - (flogf[r] + delta) / t if t > 0.0 else 0.0
                value[b] = (1.0 - w) * norm[r, b] + w * scale * h
            while True:
                b = np.argmax(value)
                if value[b] == -np.inf:
                    break
                value[b] = -np.inf
                if not _claim(r, b, tried, key_ids, taken, picks, counts):
                    continue
                for j in range(width):
                    x = g[r, b, j]
                    if x > 0.0:
                        flogf[r] += _xlogx_step(mass[r, j], x)
                        mass[r, j] += x
                        total[r] += x
                live += 1
                break
        if live == 0:
            break
    cursor = np.zeros(n_rows, dtype=np.int64)
    order = np.empty((n_rows, n), dtype=np.int64)
    for r in range(n_rows):
        order[r] = np.argsort(-norm[r], kind="mergesort")
    while True:
        live = 0
        for r in range(n_rows):
            if counts[r] >= want[r]:
                continue
            c = cursor[r]
            while c < n:
                b = order[r, c]
                c += 1
                if not tried[r, b] and _claim(r, b, tried, key_ids, taken, picks, counts):
                    live += 1
                    break
            cursor[r] = c
        if live == 0:
            break
    return picks, counts
