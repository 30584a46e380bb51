"""FOR_YOU's prior from what the user engaged with just now and what everyone engages with lately: a score fusion
(``hybridrec.sequence.blend_many``, each part min-max scaled over the items the user has not engaged with) of
the co-occurrence neighbours of the user's newest engagements, EASE's neighbours of everything they engaged with
(both lists published by the batch layer with the version), the recent popularity of every item (the speed
layer's ``popularity_recent``, decayed to the stream's time by the trending refresh) and, when the version carries
it, the sequence model's next-item score: the ensemble the offline try measured (benchmarks/ensemble_quality.py
``--served``). Pure: the loaded model, the user's fresh features and the recent popularity in, a score for every
model item out; no I/O.

The user's engagements are the speed layer's ``engaged_items`` (else ``recent_items``), newest first, hidden items
left out, so an event streamed a second ago moves the row on the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hybridrec import fusion, neighbours, sequence

if TYPE_CHECKING:
    from serving.features.base import UserFeatures
    from serving.model.bundle import LoadedModel
    from serving.trending import Trend


CO_OCCURRENCE, EASE, RECENT, NEXT_ITEM = range(4)
"""Index of each part in :attr:`Prior.shares` (and what :meth:`Prior.lead` returns)."""


@dataclass(frozen=True)
class Prior:
    """The fused score of every model item and each part's share of it (which part led is the slot's reason)."""

    score: np.ndarray
    shares: np.ndarray  # (parts, items): each part's weighted, scaled score
    confidence: np.ndarray | None = None  # the learned fusion's softmax over its candidates (0 elsewhere)
    order: np.ndarray | None = None  # the learned fusion's candidates, best first: the items of the highest score

    def lead(self, pos: np.ndarray) -> np.ndarray:
        """The part that contributed most to each of these items' score (int8; ties to the earlier part). Asked
        for a row's candidates only: an argmax over the parts of every catalog item cost 0.1 ms per page on
        ml-latest-small."""
        return self.shares[:, pos].argmax(axis=0).astype(np.int8)


@dataclass(frozen=True)
class Weights:
    """The parts' weights: EASE and recent popularity take theirs, co-occurrence the rest of 1; the sequence
    model's share ``next_item`` then scales all of those by ``1 - next_item``."""

    ease: float = 0.0
    recent: float = 0.0
    next_item: float = 0.0


def weights(configured: tuple[float, float], chosen: tuple[float, float] | None, next_item: float) -> Weights:
    """The (EASE, recent popularity) weights the version's batch chose on its validation cut when given, else the
    configured ones: one fixed weighting does not suit every catalogue (docs/evaluation.md)."""
    ease, recent = chosen if chosen is not None else configured
    return Weights(ease, recent, next_item)


def engaged_positions(model: LoadedModel, user: UserFeatures, hidden: frozenset[str]) -> list[int]:
    """Model positions of the user's distinct engagements, newest first (unknown items left out)."""
    engaged = user.engaged_items or tuple(dict.fromkeys(user.recent_items))
    pos = (model.item_pos.get(i, -1) for i in engaged if i not in hidden)
    return [p for p in pos if p >= 0]


def prior(
    model: LoadedModel,
    user: UserFeatures | None,
    hidden: frozenset[str],
    recent: np.ndarray | None,
    seeds: int,
    decay: float,
    w: Weights,
) -> Prior | None:
    """Every model item's FOR_YOU prior, or None when no part beside the co-occurrence one is there (no EASE
    lists, recent popularity or sequence model in this version, or their weights 0) or the user is unknown: the
    caller then keeps the co-occurrence lists alone. ``recent``: the recent popularity by model position."""
    seq_on = model.next_item is not None and w.next_item > 0.0
    ease_on = model.ease is not None and w.ease > 0.0
    recent_on = recent is not None and len(recent) == len(model.item_ids) and w.recent > 0.0
    if user is None or not (seq_on or ease_on or recent_on):
        return None
    engaged = engaged_positions(model, user, hidden)
    zeros = np.zeros(len(model.item_ids), np.float32)
    rest = 1.0 - w.next_item if seq_on else 1.0
    ease_w, recent_w = (w.ease if ease_on else 0.0), (w.recent if recent_on else 0.0)  # a missing part weighs 0
    parts = [
        neighbours.score_all(model.neighbours, engaged[:seeds], decay) if model.neighbours is not None else zeros,
        neighbours.score_all(model.ease, engaged, 1.0) if ease_on and model.ease is not None else zeros,
        recent if recent_on and recent is not None else zeros,
    ]
    weights = [rest * (1.0 - ease_w - recent_w), rest * ease_w, rest * recent_w]
    if seq_on and model.next_item is not None and engaged:
        parts.append(sequence.score(model.next_item, [engaged[: model.next_item.max_len][::-1]])[0])
        weights.append(w.next_item)
    return fuse(parts, weights, engaged)


def fuse(parts: list[np.ndarray], weights: list[float], engaged: list[int]) -> Prior:
    """:func:`hybridrec.sequence.blend_many` of one user's parts, each part's term kept (the slot's reason): all
    parts min-max scaled in one compiled call rather than one blend per part (0.1-0.2 ms per page less)."""
    shares = sequence.minmax(parts, engaged) * np.asarray(weights, dtype=np.float64)[:, None]
    return Prior(shares.sum(axis=0), shares)


def learned(
    model: LoadedModel,
    user: UserFeatures | None,
    hidden: frozenset[str],
    trend: Trend,
    now_ms: int,
) -> Prior | None:
    """FOR_YOU's prior re-ranked by the version's learned fusion (:func:`hybridrec.fusion.rank_one`): its
    candidates, in the fused order, score above every other item (2 … 3), the rest keep the prior's blend at the
    weights the fusion was fit with; their :func:`hybridrec.fusion.confidence` at the version's temperature is what
    the genre re-rank weighs. None without a fusion or before the trending refresh has read the recent
    popularity at every half-life for this version (the caller then keeps the linear prior)."""
    f = model.fusion
    if f is None or trend.version != model.version or len(trend.recent_all) != len(fusion.HALF_LIVES_MS):
        return None
    engaged = engaged_positions(model, user, hidden) if user is not None else []
    # the newest engagement, as the batch's cases have it (an impression is an event, not an engagement)
    previous = user.last_engaged_ms if user is not None and user.last_engaged_ms is not None else -1
    order, logits, shares = fusion.rank_one(
        f, model.neighbours, model.ease, engaged, trend.recent_all, trend.item_last_ms, now_ms, previous
    )
    by_part = np.stack([shares[0], shares[1], shares[2:].sum(axis=0)])  # CO_OCCURRENCE, EASE, RECENT
    score = by_part.sum(axis=0)
    sure = np.zeros(len(score))
    if len(order):
        score[order] = 2.0 + (len(order) - np.arange(len(order))) / len(order)
        sure[order] = fusion.confidence(logits, f.temperature)
    return Prior(score, by_part, sure, order)


def cold_order(model: LoadedModel, trend: Trend) -> np.ndarray | None:
    """ "Popular right now" of a version with a learned fusion: the fused order of an empty history at the
    stream's time (what a newcomer engages with first; the scorer learned it from users' first engagements), then
    the rest of the recent popularity's order. None without a fusion or the recent popularity."""
    if model.fusion is None or trend.recent_order is None:
        return None
    got = learned(model, None, frozenset(), trend, trend.stream_ms)
    if got is None:
        return None
    head = np.flatnonzero(got.score >= 2.0)
    head = head[np.argsort(-got.score[head], kind="stable")]
    rest = trend.recent_order[~np.isin(trend.recent_order, head)]
    return np.concatenate([head, rest]).astype(np.int64)
