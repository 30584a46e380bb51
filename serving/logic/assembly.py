"""Rows from scored candidates: filters (seen, hidden, already on the page), genre-entropy re-ranking of the
personal rows, exploration with propensities, titles. Plain data in, rows out; no I/O.

Consecutive rows that get the genre-entropy re-rank are re-ranked together (one greedy loop for all of them,
an earlier row winning a contested item), the others in score order, one after another. A row the scoring
stage skipped (a spare) is scored with ``rescore`` when assembly reaches it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hybridrec import diversity, seen
from hybridrec.contract import GENRES
from serving.config import ServingConfig, Variant
from serving.domain import Row, RowKind, Slot
from serving.logic import exploration, filters, prior
from serving.logic.candidates import Cands
from serving.model import inputs as mi

if TYPE_CHECKING:
    from serving.model.bundle import LoadedModel


I2I_REASON = "often watched with what you watched recently"
"""Reason of a FOR_YOU slot that the item-to-item neighbours of the user's newest engagements brought or scored
(the titles are the explanations, ADR-001)."""
EASE_REASON = "liked by people who liked what you watched"
"""… a FOR_YOU slot whose prior EASE's neighbours of everything the user engaged with led."""
RECENT_REASON = "popular lately"
"""… a FOR_YOU slot whose prior the recent popularity of the speed layer led."""
PRIOR_REASONS = {prior.CO_OCCURRENCE: I2I_REASON, prior.EASE: EASE_REASON, prior.RECENT: RECENT_REASON}
"""The reason by the part of FOR_YOU's prior that led the slot's score (the sequence model: the first one's)."""


@dataclass(frozen=True)
class Policy:
    """What shapes a page's rows beyond the scores (per request: the variant may override rate and weight)."""

    items_per_row: int
    exploration_rate: float
    diversity: float
    diversity_rows: Collection[str]
    diversity_slots: int
    rerank_pool: int
    exploration_first_slot: int  # 1-based
    fusion_diversity: float = 0.0  # the weight for a row the learned fusion ordered, over its slots after …
    fusion_head: int = 0  # … its first ones, which keep the fused order (the version's choice)

    def weight_of(self, c: Cands) -> float:
        """The genre re-rank's weight for a row: the fused FOR_YOU trades the fusion's confidence, the others
        their scores."""
        return self.fusion_diversity if c.confidence is not None else self.diversity

    def slots_of(self, c: Cands) -> int:
        """How many of a row's slots the re-rank picks greedily: every one of the fused FOR_YOU (its confidence
        already keeps the sure items first), the first screen of the others."""
        return self.items_per_row if c.confidence is not None else self.diversity_slots

    def head_of(self, c: Cands) -> int:
        """How many of a row's first slots keep its order before the re-rank trades: the version's for the fused
        FOR_YOU (its batch chose the weight with it), none for the others."""
        return self.fusion_head if c.confidence is not None else 0

    @staticmethod
    def of(
        cfg: ServingConfig, variant: Variant, items_per_row: int, chosen: float | None = None, head: int = 0
    ) -> Policy:
        """The serving defaults with the request's A/B variant's overrides (a variant's diversity weighs every
        re-ranked row); ``chosen``, ``head``: the fused row's weight and how many of its first slots keep the fused
        order, as the version's batch chose them."""
        rate = cfg.exploration_rate if variant.exploration_rate is None else variant.exploration_rate
        weight = cfg.diversity if variant.diversity is None else variant.diversity
        own = None if cfg.fusion_diversity == "version" else cfg.fusion_diversity
        fused = next(w for w in (variant.diversity, own, chosen, cfg.diversity) if w is not None)
        return Policy(
            items_per_row,
            rate,
            weight,
            cfg.diversity_rows,
            cfg.diversity_slots,
            cfg.rerank_pool,
            cfg.exploration_first_slot,
            fused,
            head,
        )


@dataclass
class Kept:
    """One row after the filters: its candidates left, their scores and the best ``pool`` of them."""

    cand: Cands
    items: list[str]
    scores: np.ndarray
    pos: np.ndarray | None
    top: np.ndarray
    prior: np.ndarray | None = None  # item-to-item score of ``items`` (FOR_YOU), for the slot's reason
    lead: np.ndarray | None = None  # the part of the prior that led it
    known: bool = False  # every candidate has a model position (:func:`known`)
    confidence: np.ndarray | None = None  # the learned fusion's confidence in ``items`` (FOR_YOU)

    def relevance(self) -> np.ndarray:
        """What the genre re-rank weighs against entropy at the row's best ``pool``: the fusion's confidence where
        the row has one (a sure item keeps its place, an item the fusion is indifferent about yields to a new
        genre), else the scores."""
        return (self.scores if self.confidence is None else self.confidence)[self.top]


EXPLORE_REASON = "exploring something new"
"""Reason of an explored slot."""


def reasons_of(r: Kept, at: list[int], row_reason: str) -> list[str]:
    """The reason of each slot ``at`` of a row: the part of FOR_YOU's prior that scored it, else the row's own.
    One array lookup per row, not one per slot (100 per page)."""
    if r.prior is None:
        return [row_reason] * len(at)
    scored = (~(r.prior[at] <= 0)).tolist()  # NaN counts as scored, as ``not prior <= 0`` did
    if r.lead is None:
        return [I2I_REASON if x else row_reason for x in scored]
    get = PRIOR_REASONS.get
    return [get(lead, I2I_REASON) if x else row_reason for x, lead in zip(scored, r.lead[at].tolist(), strict=True)]


def slots_of(r: Kept, placed: exploration.Placement, row_reason: str) -> list[Slot]:
    """A row's slots in the order exploration placed its candidates."""
    at, items = placed.index, r.items
    return [
        Slot(items[k], score, EXPLORE_REASON if explored else why, explored, propensity)
        for k, score, why, explored, propensity in zip(
            at, r.scores[at].tolist(), reasons_of(r, at, row_reason), placed.explored, placed.propensity, strict=True
        )
    ]


def hashes_of(c: Cands, model: LoadedModel | None) -> np.ndarray:
    """The seen-set hashes of a row's candidates: precomputed per model item, computed for the rest."""
    if model is None or c.pos is None or len(c.pos) != len(c.items):
        return seen.hashes(c.items)
    h = model.item_hash[np.maximum(c.pos, 0)] if len(c.pos) else seen.EMPTY
    unknown = np.flatnonzero(c.pos < 0)
    if len(unknown):
        h = h.copy()
        h[unknown] = seen.hashes([c.items[k] for k in unknown.tolist()])
    return h


@dataclass
class OnPage:
    """What the page shows so far: the ids, and a mask over the model's positions for the compiled filter."""

    ids: set[str]
    pos: np.ndarray | None  # bool per model item; None without a model
    position_of: Mapping[str, int]

    @staticmethod
    def of(model: LoadedModel | None) -> OnPage:
        if model is None:
            return OnPage(set(), None, {})
        return OnPage(set(), np.zeros(len(model.item_ids), dtype=np.bool_), model.item_pos)

    def add(self, items: list[str], positions: np.ndarray | None, known: bool = False) -> None:
        """Mark ``items`` shown; ``positions`` their model positions when the row knows them (-1: look it up);
        ``known``: all of them are positions."""
        self.ids.update(items)
        if self.pos is None:
            return
        if positions is not None and (known or not len(positions) or positions.min() >= 0):  # the usual row
            self.pos[positions] = True
            return
        if positions is None:
            positions = np.full(len(items), -1, dtype=np.int64)
        self.pos[positions[positions >= 0]] = True
        for k in np.flatnonzero(positions < 0).tolist():
            p = self.position_of.get(items[k], -1)
            if p >= 0:
                self.pos[p] = True


def known(c: Cands) -> bool:
    """Whether every candidate of the row has a model position (retrieval rows do; list rows usually)."""
    return c.pos is not None and len(c.pos) == len(c.items) and (not len(c.pos) or int(c.pos.min()) >= 0)


def kept_positions(
    c: Cands, seen_hashes: np.ndarray, used: OnPage, model: LoadedModel | None, backfill: int, by_position: bool
) -> np.ndarray:
    """Positions into the row's candidates that pass the filters (see :func:`filtered`); ``by_position``: every
    candidate has a model position."""
    if model is not None and used.pos is not None and by_position:  # the usual row: one compiled pass
        assert c.pos is not None
        kept = filters.keep_positions(c.pos, model.item_hash, seen_hashes, used.pos)
        if len(kept) < backfill:
            every = filters.keep_positions(c.pos, model.item_hash, seen_hashes, np.zeros_like(used.pos))
            again = every[used.pos[c.pos[every]]][: backfill - len(kept)]
            kept = np.sort(np.concatenate([kept, again]))
        return kept
    drop = seen.contains(seen_hashes, hashes_of(c, model)) if len(seen_hashes) and c.items else None
    listed = filters.keep(c.items, used.ids, drop=drop)
    if len(listed) < backfill:
        again = [k for k in filters.keep(c.items, drop=drop) if c.items[k] in used.ids][: backfill - len(listed)]
        listed = sorted(listed + again)
    return np.asarray(listed, dtype=np.int64)


def filtered(
    c: Cands, seen_hashes: np.ndarray, used: OnPage, pool: int, model: LoadedModel | None, backfill: int = 0
) -> Kept:
    """The row's candidates without seen, hidden or already placed items; ``backfill``: when fewer than that are
    left, items already placed higher on the page fill the row up, in candidate order (the row keeps its own)."""
    by_position = known(c)
    idx = kept_positions(c, seen_hashes, used, model, backfill, by_position)
    raw = c.scores if c.scores is not None else np.asarray(c.base, dtype=np.float64)
    scores = raw[idx] if len(idx) else np.zeros(0)
    # Diversity trades score for genre spread among the best few times per_row, not the whole tail.
    top = np.argsort(-scores, kind="stable")[:pool]
    prior = c.prior[idx] if c.prior is not None and len(c.prior) == len(c.items) else None
    lead = c.lead[idx] if c.lead is not None and len(c.lead) == len(c.items) else None
    sure = c.confidence[idx] if c.confidence is not None and len(c.confidence) == len(c.items) else None
    items = [c.items[k] for k in idx.tolist()]
    return Kept(c, items, scores, None if c.pos is None else c.pos[idx], top, prior, lead, by_position, sure)


def genres_of(
    model: LoadedModel | None,
    catalog_genres: Mapping[str, Sequence[str]],
    items: list[str],
    pos: np.ndarray | None = None,
    sel: np.ndarray | None = None,
) -> np.ndarray:
    """Genre vectors of ``items`` (or of ``items[sel]``): the model's matrix, the catalog for the rest."""
    if sel is not None:
        items = [items[k] for k in sel.tolist()]
        pos = None if pos is None else pos[sel]
    if model is not None and len(model.item_genres):
        if pos is None:
            pos = np.fromiter((model.item_pos.get(i, -1) for i in items), np.int64, len(items))
        g = model.item_genres[np.maximum(pos, 0)].copy() if len(pos) else np.zeros((0, len(GENRES)), np.float32)
        missing = np.flatnonzero(pos < 0).tolist()
    else:
        g = np.zeros((len(items), len(GENRES)), dtype=np.float32)
        missing = list(range(len(items)))
    for k in missing:
        g[k] = mi.genre_vector(catalog_genres[items[k]]) if items[k] in catalog_genres else 0.0
    return g


def assemble(
    cands: list[Cands],
    seen_hashes: np.ndarray,
    n_rows: int,
    policy: Policy,
    model: LoadedModel | None,
    catalog_genres: Mapping[str, Sequence[str]],
    rng: random.Random,
    rescore: Callable[[Cands], None] | None = None,
) -> list[Row]:
    """Rows in plan order: filters (seen, hidden, already on the page), ranking, exploration."""
    per_row = policy.items_per_row
    pool = policy.rerank_pool * per_row
    used = OnPage.of(model)
    rows: list[Row] = []

    def ensure_scored(c: Cands) -> None:
        if rescore is not None and c.scores is None and c.items:
            rescore(c)

    def rerun(c: Cands) -> bool:
        return policy.weight_of(c) > 0 and c.plan.kind.value in policy.diversity_rows

    i = 0
    while i < len(cands) and len(rows) < n_rows:
        ensure_scored(cands[i])
        j = i + 1
        if rerun(cands[i]):
            while j < len(cands) and j - i < n_rows - len(rows) and rerun(cands[j]):
                ensure_scored(cands[j])
                j += 1
            run = [filtered(c, seen_hashes, used, pool, model) for c in cands[i:j]]
            genres = [genres_of(model, catalog_genres, r.items, r.pos, r.top) for r in run]
            # an item's id for the cross-row dedup: its model position when every row has them
            keys: list = (
                [r.pos[r.top] for r in run]
                if all(r.pos is not None and r.known for r in run)
                else [[r.items[t] for t in r.top.tolist()] for r in run]
            )
            picks = diversity.rerank_rows(
                [r.relevance() for r in run],
                genres,
                per_row,
                [policy.weight_of(r.cand) for r in run],
                keys,
                slots=[policy.slots_of(r.cand) for r in run],
                head=[policy.head_of(r.cand) for r in run],
            )
            orders = [[int(r.top[p]) for p in pk] for r, pk in zip(run, picks, strict=True)]
            taken = {r.items[k] for r, order in zip(run, orders, strict=True) for k in order}
        else:
            # "Trending now" follows FOR_YOU, whose recent-popularity part may have placed the trending items
            # already: the row then shows them again rather than too few (or none).
            backfill = per_row if cands[i].plan.kind is RowKind.TRENDING else 0
            run = [filtered(cands[i], seen_hashes, used, pool, model, backfill)]
            orders = [run[0].top[:per_row].tolist()]
            taken = set()
        for r, order in zip(run, orders, strict=True):
            if not r.items or len(rows) >= n_rows:
                continue
            mine = {r.items[k] for k in order}
            others = taken - mine
            explorable = (
                range(len(r.items)) if not others else [k for k, item in enumerate(r.items) if item not in others]
            )
            placed = exploration.explore(
                order, explorable, policy.exploration_rate, rng, policy.exploration_first_slot - 1
            )
            plan = r.cand.plan
            slots = slots_of(r, placed, plan.reason)
            positions = None if r.pos is None else r.pos[placed.index]
            used.add([s.item_id for s in slots], positions, r.known)
            rows.append(Row(plan.row_id, plan.kind, plan.title, plan.reason, slots, positions))
        i = j
    return rows
