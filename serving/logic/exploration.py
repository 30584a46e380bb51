"""Exploration: a small share of slots (5–10 %) shows an item from outside the ranked top, chosen uniformly,
and every slot records the probability the policy had of putting that item there, so click logs can be
de-biased (inverse propensity) and CTR per variant compared."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple


class Placement(NamedTuple):
    """A row's slots in order, as columns (a page places 100; a tuple per slot cost more than the policy)."""

    index: list[int]  # into the caller's candidate list
    explored: list[bool]
    propensity: list[float]


def explore(ranked: Sequence[int], pool: Sequence[int], rate: float, rng: random.Random) -> Placement:
    """Fill ``len(ranked)`` slots: each slot independently explores with probability ``rate`` (drawing
    uniformly from the unused ``pool``), else takes the next ranked item.

    Propensity of an exploited slot is ``1 - rate`` (1 once nothing is left to explore); of an explored one
    ``rate / len(pool left)``. The draws come first, so the common page without an explored slot costs one
    pass over the pool until its first unranked item and no per-slot bookkeeping (the unused pool is listed
    only when a slot explores).
    """
    n = len(ranked)
    chosen = set(ranked)
    if rate <= 0 or chosen.issuperset(pool):
        return Placement(list(ranked), [False] * n, [1.0] * n)
    draws = [rng.random() < rate for _ in ranked]
    if not any(draws):
        return Placement(list(ranked), [False] * n, [1.0 - rate] * n)
    remaining = [p for p in pool if p not in chosen]
    queue = iter(ranked)
    out = Placement([], [], [])
    for explore_slot in draws:
        if explore_slot and remaining:
            j = rng.randrange(len(remaining))
            out.index.append(remaining.pop(j))
            out.explored.append(True)
            out.propensity.append(rate / (len(remaining) + 1))
        else:
            out.index.append(next(queue))
            out.explored.append(False)
            out.propensity.append(1.0 - rate if remaining else 1.0)
    return out
