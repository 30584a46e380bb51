"""Offline evaluation on the temporal holdout: popularity, ALS alone and the ranker (candidate or current).

Protocol (the same for every model): features and embeddings as of the holdout start ``t2``; for each
user with at least one relevant held-out event (engaged, rating ≥ ``min_relevance_rating``) the model
ranks every catalog item the user did not engage with before ``t2``; relevant = the items of those
held-out events. The ranker re-ranks the union of ALS's top ``candidates`` and the popularity top 50.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from batch import metrics
from batch.embeddings import Embeddings
from batch.ranker import Vocab, item_inputs, score, user_inputs

POPULAR_CANDIDATES = 50


@dataclass
class Bundle:
    """Everything needed to recommend: what the registry stores for one version."""

    ranker: torch.nn.Module
    emb: Embeddings
    vocab: Vocab
    popular: list[str]


@dataclass
class EvalData:
    """The holdout, as plain data (collected from Spark by the pipeline)."""

    users: list[str]
    relevant: dict[str, set[str]]
    seen: dict[str, set[str]]
    user_frame: pd.DataFrame  # one row per user in ``users`` order: as-of t2 state, ``device``, ``query_ms``
    item_frame: pd.DataFrame  # one row per catalog item: as-of t2 state
    popular: list[str]  # training-period popularity ranking
    item_share: dict[str, float]
    session_gap_ms: int

    @property
    def item_ids(self) -> list[str]:
        return self.item_frame["item_id"].tolist()

    def item_genres(self) -> dict[str, list[float]]:
        return {i: list(g) if g is not None else [] for i, g in
                zip(self.item_frame["item_id"], self.item_frame["genre_vec"], strict=True)}


def _seen_mask(data: EvalData, users: list[str], pos: Mapping[str, int]) -> np.ndarray:
    mask = np.zeros((len(users), len(pos)), dtype=bool)
    for r, u in enumerate(users):
        cols = [pos[i] for i in data.seen.get(u, ()) if i in pos]
        mask[r, cols] = True
    return mask


def recommend_popularity(data: EvalData, k: int) -> dict[str, list[str]]:
    out = {}
    for u in data.users:
        seen = data.seen.get(u, set())
        out[u] = [i for i in data.popular if i not in seen][:k]
    return out


def recommend(bundle: Bundle, data: EvalData, k: int, *, surface: str | None, n_candidates: int,
              chunk: int = 256) -> dict[str, list[str]]:
    """Top ``k`` per user: by ALS score when ``surface`` is None, else by the ranker's engagement head for
    that surface over ALS + popularity candidates."""
    items = data.item_ids
    pos = {i: n for n, i in enumerate(items)}
    uin = user_inputs(data.user_frame, bundle.emb, data.session_gap_ms)
    iin = item_inputs(data.item_frame, bundle.emb)
    device = bundle.vocab.ids(data.user_frame["device"].fillna("").tolist(), "device")
    surface_id = int(bundle.vocab.ids([surface or ""], "surface")[0])
    popular_idx = np.array([pos[i] for i in data.popular[:POPULAR_CANDIDATES + 200] if i in pos], dtype=np.int64)
    out: dict[str, list[str]] = {}
    for s in range(0, len(data.users), chunk):
        users = data.users[s:s + chunk]
        rows = np.arange(s, s + len(users))
        als = uin["user_vec"][rows] @ iin["item_vec"].T
        seen = _seen_mask(data, users, pos)
        als[seen] = -np.inf
        depth = k if surface is None else n_candidates
        depth = min(depth, als.shape[1])
        top = np.argpartition(-als, depth - 1, axis=1)[:, :depth]
        if surface is None:
            order = np.take_along_axis(als, top, 1).argsort(1)[:, ::-1]
            ranked = np.take_along_axis(top, order, 1)
            for r, u in enumerate(users):
                out[u] = [items[j] for j in ranked[r] if np.isfinite(als[r, j])][:k]
            continue
        pair_u, pair_i = [], []
        for r in range(len(users)):
            pop = [j for j in popular_idx if not seen[r, j]][:POPULAR_CANDIDATES]
            cand = np.unique(np.concatenate([top[r][np.isfinite(als[r, top[r]])], np.asarray(pop, dtype=np.int64)]))
            pair_u.append(np.full(len(cand), r + s))
            pair_i.append(cand)
        pu, pi = np.concatenate(pair_u), np.concatenate(pair_i)
        inputs = {**{key: v[pu] for key, v in uin.items()}, **{key: v[pi] for key, v in iin.items()},
                  "surface": np.full(len(pu), surface_id, dtype=np.int64), "device": device[pu]}
        eng, _ = score(bundle.ranker, inputs)
        for r, u in enumerate(users):
            sel = pu == r + s
            cand, sc = pi[sel], eng[sel]
            out[u] = [items[j] for j in cand[np.argsort(-sc, kind="stable")][:k]]
    return out


def evaluate_all(data: EvalData, k_values: tuple[int, ...], recs: Mapping[str, Mapping[str, list[str]]]
                 ) -> dict[str, dict[str, float]]:
    """Metrics for each named recommendation set."""
    total = sum(data.item_share.values()) or 1.0
    floor = min([v for v in data.item_share.values() if v > 0], default=1.0 / max(total, 1.0)) / 2
    genres = data.item_genres()
    return {name: metrics.evaluate(r, data.relevant, k_values, catalog_size=len(data.item_ids), item_genres=genres,
                                   item_share=data.item_share, novelty_floor=floor)
            for name, r in recs.items()}
