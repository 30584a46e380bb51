"""Exploration: a small share of slots (5–10 %) shows an item from outside the ranked top, chosen uniformly,
and every slot records the probability the policy had of putting that item there, so click logs can be
de-biased (inverse propensity) and CTR per variant compared.

A row's first slots (before ``first_slot``) always show the ranked top: the same share of the row explores,
from the later slots. Offline on the replay's targets, exploring every slot at 7 % cost 4 % of FOR_YOU's NDCG@10,
from the fourth slot on 2 % (docs/benchmarks.md, session 11)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple


class Placement(NamedTuple):
    """A row's slots in order, as columns (a page places 100; a tuple per slot cost more than the policy)."""

    index: list[int]  # into the caller's candidate list
    explored: list[bool]
    propensity: list[float]


def explore(
    ranked: Sequence[int], pool: Sequence[int], rate: float, rng: random.Random, first_slot: int = 0
) -> Placement:
    """Fill ``len(ranked)`` slots: slots before ``first_slot`` (0-based) take the ranked top; each later slot
    independently explores with probability ``rate · n / (n − first_slot)`` (so ``rate`` of the row's ``n`` slots
    still explore, drawing uniformly from the unused ``pool``), else takes the next ranked item.

    Propensity of an exploited slot is 1 before ``first_slot``, ``1 - p`` after it (1 once nothing is left to
    explore); of an explored one ``p / len(pool left)``, ``p`` the later slots' rate. The draws come first, so the
    common page without an explored slot costs one pass over the pool until its first unranked item and no
    per-slot bookkeeping (the unused pool is listed only when a slot explores).
    """
    n = len(ranked)
    chosen = set(ranked)
    if rate <= 0 or n <= first_slot or chosen.issuperset(pool):
        return Placement(list(ranked), [False] * n, [1.0] * n)
    p = min(1.0, rate * n / (n - first_slot))
    draws = [k >= first_slot and rng.random() < p for k in range(n)]
    if not any(draws):
        return Placement(list(ranked), [False] * n, [1.0] * first_slot + [1.0 - p] * (n - first_slot))
    remaining = [q for q in pool if q not in chosen]
    queue = iter(ranked)
    out = Placement([], [], [])
    for k, explore_slot in enumerate(draws):
        if explore_slot and remaining:
            j = rng.randrange(len(remaining))
            out.index.append(remaining.pop(j))
            out.explored.append(True)
            out.propensity.append(p / (len(remaining) + 1))
        else:
            out.index.append(next(queue))
            out.explored.append(False)
            out.propensity.append(1.0 - p if remaining and k >= first_slot else 1.0)
    return out
