"""Scoring a page: every (row, candidate) pair the page will show in one forward pass of the ranker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from serving.domain import RowKind
from serving.logic.candidates import Cands, rank_fusion
from serving.model.bundle import LoadedModel, UserTensors
from serving.trending import keep_trending_place


def score_rows(
    model: LoadedModel,
    user: UserTensors,
    cands: list[Cands],
    device: str,
    surface_of: Callable[[str], int],
    prior_weight: float = 0.0,
) -> None:
    """Scores of every candidate of ``cands`` (rows keep their retrieval order when the model knows none of
    their items); items the model does not know go last, except in "Trending now", where the count put them.
    A row with an item-to-item ``prior`` (FOR_YOU) is ordered by the rank fusion of both, ``prior_weight``
    to the prior; with weight 1 the ranker's rank weighs nothing there, so the ranker does not score that row."""
    for c in cands:
        if c.pos is None:
            c.pos = np.fromiter((model.item_pos.get(i, -1) for i in c.items), np.int64, len(c.items))
    sizes = [len(c.items) for c in cands]
    if not sum(sizes):
        return
    pos = np.concatenate([c.pos for c in cands if c.pos is not None])
    surfaces = np.repeat([surface_of(c.plan.kind.value) for c in cands], sizes)
    known = pos >= 0
    if not known.any():
        return
    by_prior = np.repeat([prior_weight >= 1.0 and _has_prior(c) for c in cands], sizes)
    need = known & ~by_prior
    full = np.where(known, 0.0, -1.0)  # 0: a known item of a row ordered by its prior alone
    if need.any():
        full[need] = model.score(user, pos[need], surfaces[need], device)
    at = 0
    for c, n in zip(cands, sizes, strict=True):
        c.scores = full[at : at + n]
        if c.plan.kind is RowKind.TRENDING:
            keep_trending_place(c.scores, known[at : at + n])
        elif _has_prior(c):
            assert c.prior is not None
            c.scores = rank_fusion(c.scores, c.prior, prior_weight)
        at += n


def _has_prior(c: Cands) -> bool:
    return c.plan.kind is not RowKind.TRENDING and c.prior is not None and len(c.prior) == len(c.items)
