"""Exploration: a small share of slots (5–10 %) shows an item from outside the ranked top, chosen uniformly,
and every slot records the probability the policy had of putting that item there, so click logs can be
de-biased (inverse propensity) and CTR per variant compared."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Placed:
    index: int          # into the caller's candidate list
    explored: bool
    propensity: float


def explore(ranked: Sequence[int], pool: Sequence[int], rate: float, rng: random.Random) -> list[Placed]:
    """Fill ``len(ranked)`` slots: each slot independently explores with probability ``rate`` (drawing
    uniformly from the unused ``pool``), else takes the next ranked item.

    Propensity of an exploited slot is ``1 - rate``; of an explored one ``rate / len(pool left)``.
    """
    chosen = set(ranked)
    remaining = [p for p in pool if p not in chosen]
    queue = list(ranked)
    out: list[Placed] = []
    for _ in range(len(ranked)):
        if remaining and rate > 0 and rng.random() < rate:
            j = rng.randrange(len(remaining))
            out.append(Placed(remaining.pop(j), True, rate / (len(remaining) + 1)))
        else:
            out.append(Placed(queue.pop(0), False, 1.0 - rate if remaining else 1.0))
    return out
