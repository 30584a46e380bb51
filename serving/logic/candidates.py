"""Candidates of every planned row: FAISS neighbours (FOR_YOU: the ALS user vector blended with the fresh
session vector, so a new session moves the row within a second; BECAUSE_YOU_WATCHED: cosine neighbours of a
recent item), the batch layer's precomputed top-K and the co-occurrence neighbours of the user's newest
engagements (``hybridrec.neighbours``, published with the version) fused into FOR_YOU, and the trending, genre
and popularity lists. Works on plain data and the loaded model's in-memory search; no I/O.

FOR_YOU's order is a weighted reciprocal-rank fusion of the ranker's score and the item-to-item score
(:func:`rank_fusion`, ``serving.i2i_weight``): the replay measured the co-occurrence lists well ahead of
what the ranker alone serves (docs/benchmarks.md), and a rank fusion needs no calibration between the two.
When the version carries EASE's lists (and the speed layer recent popularity, or the version a sequence model),
that item-to-item score is the score fusion of those parts (:mod:`serving.logic.prior`, ``serving.ease_weight``,
``serving.recent_popularity_weight``, ``serving.next_item_weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hybridrec import neighbours, seen
from hybridrec.contract import GENRES
from serving.domain import RowKind
from serving.logic import filters, prior
from serving.logic.rows import RowPlan, plan_rows

SIMILAR_DEPTH = 4
"""A "Because you watched" search returns this many times ``n`` neighbours, of which the row keeps the first
``n`` the user has not seen."""

NO_EXTRA_PARTS = prior.Weights()
"""FOR_YOU's prior of the co-occurrence neighbours alone (callers that pass no weights)."""

if TYPE_CHECKING:
    from serving.features.base import UserFeatures
    from serving.model.bundle import LoadedModel
    from serving.trending import Trend


@dataclass
class Cands:
    """One planned row's candidates, in retrieval order."""

    plan: RowPlan
    items: list[str]
    base: np.ndarray | list[float]  # retrieval score, used when the model cannot score
    scores: np.ndarray | None = None
    pos: np.ndarray | None = None  # model positions of ``items`` (-1: not in the model), when known
    prior: np.ndarray | None = None  # item-to-item score of ``items`` (0: not a neighbour), fused after scoring
    lead: np.ndarray | None = None  # which part of the prior led each item's score (``prior.Prior.lead``)
    confidence: np.ndarray | None = None  # the learned fusion's confidence in ``items`` (``prior.Prior.confidence``)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.zeros_like(v)


def blend_query(
    user_vec: np.ndarray | None, session_vec: np.ndarray | None, session_weight: float
) -> np.ndarray | None:
    """Unit query vector ``(1-w)·û + w·ŝ``; the other one alone when one is missing; None when both are."""
    parts = [
        (v, w)
        for v, w in ((user_vec, 1.0 - session_weight), (session_vec, session_weight))
        if v is not None and np.linalg.norm(v) > 0
    ]
    if not parts:
        return None
    if len(parts) == 1:
        return _unit(np.asarray(parts[0][0], dtype=np.float32)).astype(np.float32)
    q = sum(w * _unit(np.asarray(v, dtype=np.float32)) for v, w in parts)
    return _unit(np.asarray(q, dtype=np.float32)).astype(np.float32)


def top_genres(*profiles: np.ndarray | None, n: int) -> list[int]:
    """Genre axis positions of the user's strongest genres: the sum of the given (normalised) profiles."""
    acc: np.ndarray | None = None
    for p in profiles:
        if p is None:
            continue
        p = np.asarray(p, dtype=np.float64)
        s = p.sum()
        if s <= 0:
            continue
        acc = p / s if acc is None else acc + p / s
    if acc is None:
        return []
    order = np.argsort(-acc, kind="stable")
    return [int(g) for g in order[:n] if acc[g] > 0]


def fuse(*ranked: Sequence[str], k: int = 60, weights: Sequence[float] | None = None) -> tuple[list[str], list[float]]:
    """Reciprocal-rank fusion of candidate lists (e.g. FAISS neighbours and the batch top-K): each item scores
    ``Σ w/(k + rank)`` over the lists it is in (``w`` 1 unless ``weights`` says), best first (ties keep
    first-seen order). Rank-based, so lists whose scores are on different scales merge without calibration."""
    score: dict[str, float] = {}
    for items, w in zip(ranked, weights or [1.0] * len(ranked), strict=True):
        for r, item in enumerate(items):
            score[item] = score.get(item, 0.0) + w / (k + r + 1)
    order = sorted(score, key=lambda i: -score[i])
    return order, [score[i] for i in order]


def fuse_positions(
    *ranked: np.ndarray, k: int = 60, weights: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fuse` of lists of item positions (each without repeats), in a few array operations instead of a
    dict update per entry: the same items, order and scores (each item's terms are added in list order from 0,
    as ``fuse`` does, by ``bincount``; ties keep first-seen order)."""
    pos = np.concatenate([np.asarray(p, dtype=np.int64) for p in ranked])
    if not len(pos):
        return pos, np.zeros(0)
    terms = np.concatenate(
        [
            w / (k + np.arange(1, len(p) + 1, dtype=np.float64))
            for p, w in zip(ranked, weights or [1.0] * len(ranked), strict=True)
        ]
    )
    items, first, inverse = np.unique(pos, return_index=True, return_inverse=True)
    score = np.bincount(inverse, weights=terms)
    order = np.lexsort((first, -score))
    return items[order], score[order]


def lookup(keys: np.ndarray, values: np.ndarray, at: np.ndarray, missing: float = 0.0) -> np.ndarray:
    """``values[keys.index(x)]`` for each ``x`` of ``at`` (``missing`` where absent); ``keys`` without repeats."""
    out = np.full(len(at), missing, dtype=np.float64)
    if not len(keys) or not len(at):
        return out
    sorter = np.argsort(keys, kind="stable")
    j = np.minimum(np.searchsorted(keys, at, sorter=sorter), len(keys) - 1)
    hit = keys[sorter[j]] == at
    out[hit] = np.asarray(values, dtype=np.float64)[sorter[j[hit]]]
    return out


def rank_fusion(scores: np.ndarray, prior: np.ndarray, weight: float, k: int = 60) -> np.ndarray:
    """``(1 - weight)/(k + rank by score) + weight/(k + rank by prior)``, ranks from 1; an item with no prior
    (0) gets only the first term. Unscored items (score < 0: not in the model) keep a negative score."""
    n = len(scores)
    out = np.zeros(n)
    if n == 0:
        return out
    by_score = np.empty(n)
    by_score[np.argsort(-scores, kind="stable")] = np.arange(1, n + 1)
    by_prior = np.empty(n)
    by_prior[np.argsort(-prior, kind="stable")] = np.arange(1, n + 1)
    out = (1.0 - weight) / (k + by_score) + np.where(prior > 0, weight / (k + by_prior), 0.0)
    return np.where(scores < 0, scores, out)


def item_to_item(
    model: LoadedModel, user: UserFeatures | None, hidden: frozenset[str], seeds: int, decay: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` co-occurrence neighbours (positions, scores) of the user's ``seeds`` newest distinct
    engagements (the speed layer's ``engaged_items``, else ``recent_items``), newer seeds weighing more."""
    if model.neighbours is None or user is None or seeds <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    engaged = user.engaged_items or tuple(dict.fromkeys(user.recent_items))
    pos = [model.item_pos.get(i, -1) for i in engaged[: seeds + len(hidden)] if i not in hidden][:seeds]
    return neighbours.top(model.neighbours, pos, decay, n)


def top_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best positive scores, best first (ties by position)."""
    n = min(n, int((scores > 0).sum()))
    if n <= 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, n - 1)[:n]
    return top[np.lexsort((top, -scores[top]))].astype(np.int64)


def list_cands(c: Cands, model: LoadedModel | None, trend: Trend, n: int, seen_hashes: np.ndarray = seen.EMPTY) -> None:
    """Trending (the speed layer's counts, nothing else: no popularity list under "Trending now"); popularity
    (the model's items by the speed layer's recent popularity, decayed to the stream's time; before the trending
    refresh has it for this version, the batch's counts; without a model the speed layer's decayed popularity;
    else trending: the only signal left). A model's popularity list skips what the user has seen
    (``seen_hashes``) before it takes its ``n``."""
    if c.plan.kind is RowKind.TRENDING:
        c.items, c.base = trend.items[:n], [float(x) for x in trend.counts[:n]]
        if model is not None and trend.pos is not None and trend.version == model.version:
            c.pos = trend.pos[:n]
    elif (
        model is not None
        and trend.recent_order is not None
        and len(trend.recent_order)
        and trend.version == model.version
    ):
        order = trend.cold_order if trend.cold_order is not None else trend.recent_order
        _take(c, model, order, None, n, seen_hashes)
    elif model is not None and model.popular:
        _take(c, model, model.popular_pos, model.popular, n, seen_hashes)
    elif model is None and trend.popular:  # no model: the speed layer's decayed popularity
        c.items, c.base = trend.popular[:n], trend.popular_scores[:n]
    elif trend.items:  # no popularity at all: trending is the only signal left
        c.items, c.base = trend.items[:n], [float(x) for x in trend.counts[:n]]


def _take(
    c: Cands, model: LoadedModel, order: np.ndarray, ids: Sequence[str] | None, n: int, seen_hashes: np.ndarray
) -> None:
    """A list row's candidates: the first ``n`` unseen of ``order`` (model positions, best first; -1 an item the
    model does not know, so ``ids`` names them when it can hold one), scored by their rank in the list."""
    sel = filters.first_unseen(order, model.item_hash, seen_hashes, n)
    c.pos = order[sel]
    c.items = [ids[k] for k in sel.tolist()] if ids is not None else [model.item_ids[p] for p in c.pos.tolist()]
    c.base = 1.0 / (1.0 + np.arange(len(sel), dtype=np.float64))


def genre_cands(c: Cands, model: LoadedModel, genre: int, n: int, seen_hashes: np.ndarray = seen.EMPTY) -> None:
    """A genre row's candidates: the genre's items by popularity, the first ``n`` the user has not seen."""
    if not model.genre_items:
        return
    _take(c, model, model.genre_items[genre], model.genre_ids[genre], n, seen_hashes)


def fallback_cands(
    model: LoadedModel | None,
    trend: Trend,
    title_of: Callable[[str], str],
    n_rows: int,
    only: RowKind | None,
    n: int,
    seen_hashes: np.ndarray = seen.EMPTY,
) -> list[Cands]:
    """Rows that need no retrieval: trending, then popularity per genre and overall (a model's lists without
    what the user has seen, ``seen_hashes``)."""
    genres = model.popular_genres if model is not None else trend.popular_genres
    plans = plan_rows(
        personalized=False,
        has_profile=False,
        recent_items=[],
        user_genres=[],
        popular_genres=genres,
        genre_names=GENRES,
        title_of=title_of,
        n_rows=n_rows,
        only=only if only and not only.profiling else None,
        trending=bool(trend.items),
    )
    out = []
    for plan in plans:
        c = Cands(plan, [], [])
        if plan.kind is RowKind.TOP_GENRE and model is not None and plan.genre is not None:
            genre_cands(c, model, plan.genre, n, seen_hashes)
        elif plan.kind is RowKind.TOP_GENRE and plan.genre is not None:
            items = trend.genre_popular.get(plan.genre, [])[:n]
            c.items, c.base = items, [1.0 / (1 + k) for k in range(len(items))]
        else:
            list_cands(c, model, trend, n, seen_hashes)
        out.append(c)
    return out


def personal_cands(
    model: LoadedModel,
    user: UserFeatures | None,
    user_vec: np.ndarray | None,
    user_inputs: dict[str, np.ndarray],
    trend: Trend,
    title_of: Callable[[str], str],
    *,
    personalized: bool,
    n_rows: int,
    only: RowKind | None,
    n: int,
    session_weight: float,
    i2i_seeds: int = 0,
    i2i_decay: float = 0.7,
    i2i_weight: float = 0.0,
    weights: prior.Weights = NO_EXTRA_PARTS,
    seen_hashes: np.ndarray = seen.EMPTY,
    fused_at_ms: int | None = None,
) -> list[Cands]:
    """Every planned row of a page with a model: one batched inner-product search for FOR_YOU, one batched
    cosine search for the BECAUSE rows, the batch top-K fused into FOR_YOU, list rows from memory (without what
    the user has seen, ``seen_hashes``). Hidden items never seed a row nor join from the top-K. ``fused_at_ms``:
    the request's time, when FOR_YOU may take the version's learned fusion (:func:`prior.learned`)."""
    hidden = user.hidden_items if user is not None else frozenset()
    recent = [i for i in user.recent_items if i not in hidden] if user is not None else []
    top_k = [i for i in user.top_k_items[:n] if i not in hidden] if user is not None else []
    session_vec = user_inputs["recent_vec"][0] if recent else None
    mine = (
        top_genres(
            user_inputs["user_genres"][0],
            user_inputs["session_genres"][0],
            None if user is None or user.taste_genres is None else np.asarray(user.taste_genres),
            n=3,
        )
        if personalized
        else []
    )
    plans = plan_rows(
        personalized=personalized,
        has_profile=user_vec is not None or bool(top_k),
        recent_items=recent,
        user_genres=mine,
        popular_genres=model.popular_genres,
        genre_names=GENRES,
        title_of=title_of,
        n_rows=n_rows,
        only=only,
        can_seed=model.item_pos.__contains__,
        trending=bool(trend.items),
    )
    k = n + len(recent)
    queries: list[tuple[int, np.ndarray]] = []  # user → item (inner product)
    seeds: list[tuple[int, int]] = []  # item → item (cosine): row, seed position
    out: list[Cands] = []
    for_you = -1
    for r, plan in enumerate(plans):
        c = Cands(plan, [], [])
        out.append(c)
        if plan.kind is RowKind.FOR_YOU:
            for_you = r
            qv = blend_query(user_vec, session_vec, session_weight)
            if qv is not None:
                queries.append((r, qv))
        elif plan.kind is RowKind.BECAUSE_YOU_WATCHED and plan.seed_item in model.item_pos:
            seeds.append((r, model.item_pos[plan.seed_item]))
        elif plan.kind is RowKind.TOP_GENRE and plan.genre is not None:
            genre_cands(c, model, plan.genre, n, seen_hashes)
        else:
            list_cands(c, model, trend, n, seen_hashes)
    found: list[tuple[list[int], np.ndarray, np.ndarray]] = []
    if queries:
        found.append(([r for r, _ in queries], *model.search(np.stack([v for _, v in queries]), k)))
    if seeds:
        # a heavy user has seen many of a title's neighbours: search deeper, keep the first n unseen (one depth
        # for every user, so each seed's list is searched once and then read from the model's cache)
        found.append(([r for r, _ in seeds], *model.similar([p for _, p in seeds], SIMILAR_DEPTH * n)))
    ids = model.item_ids
    for rows, scores, pos in found:
        for r, srow, prow in zip(rows, scores, pos, strict=True):
            keep = np.flatnonzero(prow >= 0)
            if out[r].plan.kind is RowKind.BECAUSE_YOU_WATCHED:
                keep = keep[filters.first_unseen(prow[keep], model.item_hash, seen_hashes, n)]
            out[r].pos = prow[keep].astype(np.int64)
            out[r].items = [ids[p] for p in out[r].pos.tolist()]
            out[r].base = srow[keep].astype(np.float64)
    recent = trend.recent if trend.version == model.version else None
    blended = None
    if for_you >= 0 and fused_at_ms is not None:  # the version's learned fusion, at the request's time
        blended = prior.learned(model, user, hidden, trend, fused_at_ms)
    if for_you >= 0 and blended is None:
        blended = prior.prior(model, user, hidden, recent, i2i_seeds, i2i_decay, weights)
    if blended is not None:  # the fused prior of every part: its best n join, it scores them all
        fused = blended.order
        # the learned fusion's candidates outrank every other item: no partition of the catalogue needed
        i2i_pos = fused[:n] if fused is not None and len(fused) >= n else top_positions(blended.score, n)
        i2i_score = blended.score[i2i_pos]
    elif for_you >= 0:
        i2i_pos, i2i_score = item_to_item(model, user, hidden, i2i_seeds, i2i_decay, n)
    else:
        i2i_pos, i2i_score = np.zeros(0, np.int64), np.zeros(0)
    if for_you >= 0 and (top_k or len(i2i_pos)):
        # the batch layer's precomputed candidates and the co-occurrence neighbours join the FAISS neighbours
        c = out[for_you]
        rest = (1.0 - i2i_weight) / 2
        weights = (rest, rest, i2i_weight) if len(i2i_pos) else None
        top_k_pos = np.fromiter((model.item_pos.get(i, -1) for i in top_k), np.int64, len(top_k))
        if (top_k_pos >= 0).all():  # the usual case: every list is model positions, fused as arrays
            faiss_pos = c.pos if c.pos is not None else np.zeros(0, np.int64)
            c.pos, c.base = fuse_positions(faiss_pos, top_k_pos, i2i_pos, weights=weights)
            c.items = [ids[p] for p in c.pos.tolist()]
        else:  # a top-K item the model does not know (an older version's list): fused by id
            i2i = [ids[p] for p in i2i_pos.tolist()]
            c.items, c.base = fuse(c.items, top_k, i2i, weights=weights)
            c.pos = np.fromiter((model.item_pos.get(i, -1) for i in c.items), np.int64, len(c.items))
        if blended is not None:
            c.prior = np.where(c.pos >= 0, blended.score[np.maximum(c.pos, 0)], 0.0)
            c.lead = blended.lead(np.maximum(c.pos, 0))
            if blended.confidence is not None:
                c.confidence = np.where(c.pos >= 0, blended.confidence[np.maximum(c.pos, 0)], 0.0)
        elif len(i2i_pos):
            c.prior = lookup(i2i_pos, i2i_score, c.pos)
    return out


def likely_shown(cands: list[Cands], n_rows: int) -> list[Cands]:
    """The first ``n_rows`` rows that have candidates: the ones assembly will use unless filtering empties one."""
    out = []
    for c in cands:
        if c.items:
            out.append(c)
            if len(out) == n_rows:
                break
    return out
