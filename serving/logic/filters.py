"""Slate filters: never show what the user already engaged with or hid, and never the same item twice on a page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def keep(candidates: Sequence[str], *excluded: Iterable[str]) -> list[int]:
    """Positions of ``candidates`` to keep: first occurrence only, and none of ``excluded``."""
    banned: set[str] = set()
    for ex in excluded:
        banned.update(ex)
    out: list[int] = []
    for i, item in enumerate(candidates):
        if item in banned:
            continue
        banned.add(item)
        out.append(i)
    return out
