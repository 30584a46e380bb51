"""Slate filters: never show what the user already engaged with or hid, and never the same item twice on a page.

What the user engaged with is two sets read in the same round trip: the batch history (``user_batch.seen_hashes``,
every item engaged with in the batch window, as 64-bit hashes: :mod:`hybridrec.seen`) and the fresh events since
(the speed layer's features). :func:`fresh_engaged` is the one place that says which fresh features count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
