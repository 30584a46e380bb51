"""Slate filters: never show what the user already engaged with or hid, and never the same item twice on a page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def keep(candidates: Sequence[str], *excluded: Iterable[str]) -> list[int]:
    """Positions of ``candidates`` to keep: first occurrence only, and none of ``excluded``."""
    banned: set[str] = set().union(*excluded)
    add = banned.add
    # One comprehension, no per-item method dispatch: ``add`` returns None, so an item is kept the first time
    # and banned from then on (this runs for every candidate row of every page).
    return [i for i, item in enumerate(candidates) if not (item in banned or add(item))]
