"""Slate filters: never show what the user already engaged with or hid, and never the same item twice on a page.

What the user engaged with is two sets read in the same round trip: the batch history (``user_batch.seen_hashes``,
every item engaged with in the batch window, as 64-bit hashes: :mod:`hybridrec.seen`) and the fresh events since
(the speed layer's features). :func:`fresh_engaged` is the one place that says which fresh features count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numba
import numpy as np

from hybridrec import seen
from serving.features.base import UserFeatures


def fresh_engaged(user: UserFeatures) -> tuple[str, ...]:
    """Items the fresh features say the user engaged with or hid: the speed layer's distinct ``engaged_items``
    (``recent_items`` too, for hashes an older job wrote without it) and ``hidden_items``."""
    return (*user.engaged_items, *user.recent_items, *user.hidden_items)


def seen_set(user: UserFeatures | None) -> np.ndarray:
    """Sorted hashes of everything the user engaged with: the batch history plus the fresh events."""
    if user is None:
        return seen.EMPTY
    return seen.union(seen.decode(user.seen_hashes), fresh_engaged(user))


def keep(candidates: Sequence[str], *excluded: Iterable[str], drop: np.ndarray | None = None) -> list[int]:
    """Positions of ``candidates`` to keep: first occurrence only, none of ``excluded``, none where ``drop``."""
    banned: set[str] = set().union(*excluded)
    add = banned.add
    # One comprehension, no per-item method dispatch: ``add`` returns None, so an item is kept the first time
    # and banned from then on (this runs for every candidate row of every page).
    if drop is None or not drop.any():
        return [i for i, item in enumerate(candidates) if not (item in banned or add(item))]
    dropped = drop.tolist()
    return [i for i, item in enumerate(candidates) if not (dropped[i] or item in banned or add(item))]


def keep_positions(pos: np.ndarray, item_hash: np.ndarray, seen_hashes: np.ndarray, used: np.ndarray) -> np.ndarray:
    """:func:`keep` of a row whose candidates are all model positions (``pos`` ≥ 0), in one compiled pass: the
    positions (into ``pos``) of first occurrences that are neither ``used`` (a mask over model positions) nor in
    the sorted ``seen_hashes`` (``item_hash``: each model item's seen-set hash). Same answer as :func:`keep`
    with the ids, ``drop`` = seen; no per-item Python object (every row of every page runs it)."""
    return _keep_positions(
        np.ascontiguousarray(pos, np.int64),
        np.ascontiguousarray(item_hash, seen.DTYPE),
        np.ascontiguousarray(seen_hashes, seen.DTYPE),
        np.ascontiguousarray(used, np.bool_),
    )


def _read_only(dtype: numba.types.Type) -> numba.types.Array:
    """A 1-d array argument the kernel only reads: the user's seen set is often a read-only view of Redis bytes."""
    return numba.types.Array(dtype, 1, "A", readonly=True)


@numba.njit(numba.boolean(_read_only(numba.uint64), numba.uint64), cache=True, nogil=True)
def _is_seen(seen_hashes: np.ndarray, h: int) -> bool:  # pragma: no cover - compiled; tested through its callers
    """``h`` in the sorted ``seen_hashes``: the one membership test of both kernels below."""
    at = np.searchsorted(seen_hashes, h)
    return at < len(seen_hashes) and seen_hashes[at] == h


@numba.njit(
    numba.int64[:](*(_read_only(t) for t in (numba.int64, numba.uint64, numba.uint64, numba.boolean))),
    cache=True,  # compiled at import (`make install` does it once)
    nogil=True,
)
def _keep_positions(
    pos: np.ndarray, item_hash: np.ndarray, seen_hashes: np.ndarray, used: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled; tested through keep_positions
    out = np.empty(len(pos), np.int64)
    in_row = np.zeros(len(used), np.bool_)
    n = 0
    for k in range(len(pos)):
        p = pos[k]
        if used[p] or in_row[p] or _is_seen(seen_hashes, item_hash[p]):
            continue
        in_row[p] = True
        out[n] = k
        n += 1
    return out[:n]


def first_unseen(order: np.ndarray, item_hash: np.ndarray, seen_hashes: np.ndarray, n: int) -> np.ndarray:
    """Indices into ``order`` (model positions, best first) of its first ``n`` items not in the sorted
    ``seen_hashes``; a position < 0 (an item the model does not know) is kept. A list row (popularity, a
    genre) takes its candidates this way, so a heavy user who has seen the list's head still gets a full row
    instead of the few left of its first ``n``."""
    return _first_unseen(
        np.ascontiguousarray(order, np.int64),
        np.ascontiguousarray(item_hash, seen.DTYPE),
        np.ascontiguousarray(seen_hashes, seen.DTYPE),
        n,
    )


@numba.njit(
    numba.int64[:](*(_read_only(t) for t in (numba.int64, numba.uint64, numba.uint64)), numba.int64),
    cache=True,
    nogil=True,
)
def _first_unseen(
    order: np.ndarray, item_hash: np.ndarray, seen_hashes: np.ndarray, n: int
) -> np.ndarray:  # pragma: no cover - compiled; tested through first_unseen
    out = np.empty(max(0, min(n, len(order))), np.int64)
    k = 0
    for j in range(len(order)):
        if k == len(out):
            break
        p = order[j]
        if p >= 0 and _is_seen(seen_hashes, item_hash[p]):
            continue
        out[k] = j
        k += 1
    return out[:k]
