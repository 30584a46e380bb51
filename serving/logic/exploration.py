"""Exploration: a small share of slots (5–10 %) shows an item from outside the ranked top, chosen uniformly,
and every slot records the probability the policy had of putting that item there, so click logs can be
de-biased (inverse propensity) and CTR per variant compared."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple


class Placed(NamedTuple):
    index: int  # into the caller's candidate list
    explored: bool
    propensity: float


def explore(ranked: Sequence[int], pool: Sequence[int], rate: float, rng: random.Random) -> list[Placed]:
    """Fill ``len(ranked)`` slots: each slot independently explores with probability ``rate`` (drawing
    uniformly from the unused ``pool``), else takes the next ranked item.

    Propensity of an exploited slot is ``1 - rate`` (1 once nothing is left to explore); of an explored one
    ``rate / len(pool left)``. The draws come first, so the common page without an explored slot costs one
    pass over the pool until its first unranked item and no per-slot bookkeeping (the unused pool is listed
    only when a slot explores).
    """
    chosen = set(ranked)
    if rate <= 0 or chosen.issuperset(pool):
        return [Placed(i, False, 1.0) for i in ranked]
    draws = [rng.random() < rate for _ in ranked]
    if not any(draws):
        return [Placed(i, False, 1.0 - rate) for i in ranked]
    remaining = [p for p in pool if p not in chosen]
    queue = iter(ranked)
    out: list[Placed] = []
    for explore_slot in draws:
        if explore_slot and remaining:
            j = rng.randrange(len(remaining))
            out.append(Placed(remaining.pop(j), True, rate / (len(remaining) + 1)))
        else:
            out.append(Placed(next(queue), False, 1.0 - rate if remaining else 1.0))
    return out
