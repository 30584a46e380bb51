"""Genre-entropy-aware re-ranking: greedy selection trading the model's score against the genre entropy the
item adds to the row, so a row does not collapse onto one genre (ADR-001's diversity guardrail).

The greedy loop is sequential per slot, so its cost is the number of numpy calls per step times the slots.
:func:`rerank_rows` therefore runs every row of a page in one loop over (rows × candidates × genres) arrays:
one set of calls per slot for all rows instead of one per row and slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    return rerank_rows([scores], [genres], k, weight)[0]


def rerank_rows(
    scores: Sequence[np.ndarray],
    genres: Sequence[np.ndarray],
    k: int,
    weight: float,
    keys: Sequence[Sequence[object]] | None = None,
    slots: int | None = None,
) -> list[list[int]]:
    """:func:`rerank` of several rows at once. With ``keys`` (one id per candidate), an id is picked by at
    most one row: slot by slot the rows pick in row order, an item taken is gone for the other rows, and a
    row whose best is gone takes its next best (dedupe across rows without re-ranking them one after another;
    an earlier row wins an item two rows want at the same slot).

    ``slots``: only the first ``slots`` positions of each row are chosen greedily for genre entropy (what
    the first screen shows); the rest follow in score order, with the same cross-row rule. The greedy step
    is the costly part (a dozen array operations per slot), so this bounds the cost by what is visible."""
    n_rows = len(scores)
    sizes = [len(s) for s in scores]
    n = max(sizes, default=0)
    if n == 0 or k <= 0:
        return [[] for _ in range(n_rows)]
    width = genres[0].shape[1] if len(genres[0].shape) == 2 else 0
    pad = np.full((n_rows, n), -np.inf)
    norm = np.zeros((n_rows, n))
    g = np.zeros((n_rows, n, width))
    for r, (s, gen) in enumerate(zip(scores, genres, strict=True)):
        m = sizes[r]
        if m == 0:
            continue
        s = np.asarray(s, dtype=np.float64)
        lo, spread = float(s.min()), float(s.max() - s.min())
        norm[r, :m] = (s - lo) / spread if spread > 0 else 0.0
        pad[r, :m] = 0.0
        g[r, :m] = gen
    blocked = np.isinf(pad)  # padding, own picks, and items another row took
    picks: list[list[int]] = [[] for _ in range(n_rows)]
    want = [min(k, m) for m in sizes]
    taken: set[object] = set()
    greedy = k if slots is None else max(0, min(k, slots))
    if weight <= 0 or greedy == 0:
        _fill_in_order(norm + pad, blocked, picks, want, keys, taken)
        return picks
    scale = math.log(max(width, 2))
    # Genres no candidate has cannot change any entropy: dropped. Both that and the one-hot below come from
    # the nonzero cells (a few per candidate) instead of passes over every (row, candidate, genre) cell.
    rr, ii, jj = np.nonzero(g)
    present = np.bincount(jj, minlength=width) > 0
    cell = g[rr, ii, jj]
    g = g[:, :, present]
    jj = (np.cumsum(present) - 1)[jj]
    gsum = g.sum(2)
    # value = (1-w)·score + w/log(G)·(H(row + item) − H(row)); H(row) is the same for every candidate of a
    # row, so it drops out of the argmax. H(m) with total T is log T − Σ_j m_j·log m_j / T.
    base = (1.0 - weight) * norm + pad
    gain = weight / scale
    # Genre vectors take few distinct values (1/k for an item with k genres), so Σ_j f(m_j + g_ij) − f(m_j),
    # f(x) = x·log x, is one product of a one-hot (candidate × genre·value) matrix with a tiny table of
    # f(m_j + v) − f(m_j) per slot, not a log over every (row, candidate, genre) cell.
    positive = cell > 0
    rr, ii, jj, cell = rr[positive], ii[positive], jj[positive], cell[positive]
    values = np.array(sorted(set(cell.tolist())))
    n_genres = g.shape[2]
    onehot = np.zeros((n_rows, n, n_genres * len(values)))
    onehot[rr, ii, jj * len(values) + np.searchsorted(values, cell)] = 1.0
    real = ~blocked
    sums = gsum[real]
    # Genre vectors are float32 (1/3 of a three-genre item rounds), so "every item adds the same mass" allows
    # a relative 1e-6: the float32 rounding, never a real difference of genre weight.
    uniform = len(sums) > 0 and float(sums[0]) > 0 and bool((np.abs(sums - sums[0]) <= 1e-6 * sums[0]).all())
    # f(m + v) for v in (0, *values) in one array: column 0 is f(m) itself (for v > 0, m + v + 1e-300 == m + v,
    # so the tiny only guards log 0). ``base`` is -inf wherever ``blocked``, so a slot's values need no mask.
    shifts = np.concatenate(([0.0], values))
    table_shape = (n_rows, n_genres * len(values), 1)
    mass = np.zeros((n_rows, n_genres))
    total = np.zeros((n_rows, 1))
    per_item = float(sums[0]) if uniform else 0.0
    for _ in range(greedy):
        shifted = mass[:, :, None] + shifts
        f = shifted * np.log(shifted + _TINY)
        delta = np.matmul(onehot, (f[:, :, 1:] - f[:, :, :1]).reshape(table_shape))[:, :, 0]
        if uniform:  # every item adds the same total: log T' and S/T' are per-row constants
            value = base - (gain / (total + per_item)) * delta
        else:
            fm = mass * np.log(mass + _TINY)
            t = total + gsum
            tt = np.maximum(t, _TINY)
            value = base + gain * np.where(t > 0, np.log(tt) - (fm.sum(1, keepdims=True) + delta) / tt, 0.0)
        if _pick_step(value, base, blocked, picks, want, keys, taken, (mass, total, g, gsum)) == 0:
            break
    if greedy < k:
        _fill_in_order((1.0 - weight) * norm + pad, blocked, picks, want, keys, taken)
    return picks


def _fill_in_order(
    value: np.ndarray,
    blocked: np.ndarray,
    picks: list[list[int]],
    want: list[int],
    keys: Sequence[Sequence[object]] | None,
    taken: set[object],
) -> None:
    """Fill every row up to ``want`` by ``value`` order, slot by slot in row order (the cross-row rule of
    :func:`_claim`), with one sort for all rows instead of array operations per slot."""
    order = np.argsort(-np.where(blocked, -np.inf, value), axis=1, kind="stable").tolist()
    blocked_rows = blocked.tolist()
    cursor = [0] * len(picks)
    while True:
        live = 0
        for r, row in enumerate(order):
            if len(picks[r]) >= want[r]:
                continue
            own, c, end = blocked_rows[r], cursor[r], len(row)
            while c < end:
                b = row[c]
                c += 1
                if own[b]:
                    continue  # padding, or picked by the greedy part: the order puts these last or skips them
                if _claim(r, b, blocked, picks, keys, taken):
                    live += 1
                    break
            cursor[r] = c
        if live == 0:
            return


def _pick_step(
    value: np.ndarray,
    base: np.ndarray,
    blocked: np.ndarray,
    picks: list[list[int]],
    want: list[int],
    keys: Sequence[Sequence[object]] | None,
    taken: set[object],
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """One slot for every row, in row order: each row takes its best item no earlier row took (:func:`_claim`),
    and the pick joins the row's genre ``state`` (mass, total; from the item's genres g and their sum). Blocked
    items are -inf in ``value``; what becomes blocked (a pick, an item another row took) turns -inf in ``base``
    too, so later slots skip it without a mask. Returns how many rows picked."""
    mass, total, g, gsum = state
    live = 0
    for r, b in enumerate(value.argmax(1).tolist()):
        if len(picks[r]) >= want[r]:
            continue
        row = value[r]
        while row[b] != -np.inf:
            base[r, b] = -np.inf
            if _claim(r, b, blocked, picks, keys, taken):
                mass[r] += g[r, b]
                total[r, 0] += gsum[r, b]
                live += 1
                break
            row[b] = -np.inf  # another row has it: this row's next best
            b = int(row.argmax())
    return live


def _claim(
    r: int,
    b: int,
    blocked: np.ndarray,
    picks: list[list[int]],
    keys: Sequence[Sequence[object]] | None,
    taken: set[object],
) -> bool:
    """The cross-row rule of :func:`rerank_rows`, written once for its greedy and its score-order slots: row
    ``r`` takes candidate ``b`` unless another row has taken its id (then ``b`` is blocked for ``r`` too, and the
    caller tries the row's next best). Rows ask slot by slot in row order, so an earlier row wins."""
    blocked[r, b] = True
    if keys is not None:
        key = keys[r][b]
        if key in taken:
            return False
        taken.add(key)
    picks[r].append(b)
    return True
