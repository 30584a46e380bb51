"""Offline evaluation on the newest validation window: popularity, ALS alone and the ranker (candidate or
current), scored as a next-item replay with the shared metric code (``hybridrec.metrics``).

Protocol (the same for every model, and the same kind of case as ``hybridrec eval replay``'s, selected by
``hybridrec.nextitem.select_targets``): every engagement of the window ``[t2, end)`` with an item known
before ``t2`` that the user had not engaged with before is a *case*; the model ranks every catalog item the
user did not engage with before the case's time, from the user's features as of just before it (the fresh
state: recent items, session, counts), and the case's item is the one relevant item. Embeddings and item
features are as of ``t2``. The ranker re-ranks the union of ALS's top ``candidates`` and the popularity top 50.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from batch.embeddings import Embeddings
from batch.ranker import Vocab, item_inputs, score, user_inputs
from hybridrec import metrics

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
    """The validation window's cases, as plain data (collected from Spark by the pipeline)."""

    cases: list[str]  # case ids, one per target
    relevant: dict[str, set[str]]  # case → {the target's item}
    seen: dict[str, set[str]]  # case → what the user engaged with before it
    user_frame: pd.DataFrame  # one row per case in ``cases`` order: ``user_id``, ``query_ms``, as-of state, ``device``
    item_frame: pd.DataFrame  # one row per catalog item: as-of t2 state
    popular: list[str]  # training-period popularity ranking
    item_share: dict[str, float]
    session_gap_ms: int

    @property
    def item_ids(self) -> list[str]:
        return self.item_frame["item_id"].tolist()

    def item_genres(self) -> dict[str, list[float]]:
        return {
            i: list(g) if g is not None else []
            for i, g in zip(self.item_frame["item_id"], self.item_frame["genre_vec"], strict=True)
        }


def _seen_mask(data: EvalData, cases: list[str], pos: Mapping[str, int]) -> np.ndarray:
    mask = np.zeros((len(cases), len(pos)), dtype=bool)
    for r, c in enumerate(cases):
        cols = [pos[i] for i in data.seen.get(c, ()) if i in pos]
        mask[r, cols] = True
    return mask


def recommend_popularity(data: EvalData, k: int) -> dict[str, list[str]]:
    out = {}
    for c in data.cases:
        seen = data.seen.get(c, set())
        out[c] = [i for i in data.popular if i not in seen][:k]
    return out


def recommend(
    bundle: Bundle, data: EvalData, k: int, *, surface: str | None, n_candidates: int, chunk: int = 256
) -> dict[str, list[str]]:
    """Top ``k`` per case: by ALS score when ``surface`` is None, else by the ranker's engagement head for
    that surface over ALS + popularity candidates."""
    items = data.item_ids
    pos = {i: n for n, i in enumerate(items)}
    uin = user_inputs(data.user_frame, bundle.emb, data.session_gap_ms)
    iin = item_inputs(data.item_frame, bundle.emb)
    device = bundle.vocab.ids(data.user_frame["device"].fillna("").tolist(), "device")
    surface_id = int(bundle.vocab.ids([surface or ""], "surface")[0])
    popular_idx = np.array([pos[i] for i in data.popular[: POPULAR_CANDIDATES + 200] if i in pos], dtype=np.int64)
    out: dict[str, list[str]] = {}
    for s in range(0, len(data.cases), chunk):
        cases = data.cases[s : s + chunk]
        rows = np.arange(s, s + len(cases))
        als = uin["user_vec"][rows] @ iin["item_vec"].T
        seen = _seen_mask(data, cases, pos)
        als[seen] = -np.inf
        depth = k if surface is None else n_candidates
        depth = min(depth, als.shape[1])
        top = np.argpartition(-als, depth - 1, axis=1)[:, :depth]
        if surface is None:
            order = np.take_along_axis(als, top, 1).argsort(1)[:, ::-1]
            ranked = np.take_along_axis(top, order, 1)
            for r, u in enumerate(cases):
                out[u] = [items[j] for j in ranked[r] if np.isfinite(als[r, j])][:k]
            continue
        pair_u, pair_i = [], []
        for r in range(len(cases)):
            pop = [j for j in popular_idx if not seen[r, j]][:POPULAR_CANDIDATES]
            cand = np.unique(np.concatenate([top[r][np.isfinite(als[r, top[r]])], np.asarray(pop, dtype=np.int64)]))
            pair_u.append(np.full(len(cand), r + s))
            pair_i.append(cand)
        pu, pi = np.concatenate(pair_u), np.concatenate(pair_i)
        inputs = {
            **{key: v[pu] for key, v in uin.items()},
            **{key: v[pi] for key, v in iin.items()},
            "surface": np.full(len(pu), surface_id, dtype=np.int64),
            "device": device[pu],
        }
        eng, _ = score(bundle.ranker, inputs)
        for r, u in enumerate(cases):
            sel = pu == r + s
            cand, sc = pi[sel], eng[sel]
            out[u] = [items[j] for j in cand[np.argsort(-sc, kind="stable")][:k]]
    return out


def evaluate_all(
    data: EvalData, k_values: tuple[int, ...], recs: Mapping[str, Mapping[str, list[str]]]
) -> dict[str, dict[str, float]]:
    """Metrics for each named recommendation set (``cases``: how many were scored)."""
    genres = data.item_genres()
    floor = metrics.novelty_floor(data.item_share)
    return {
        name: metrics.evaluate(
            r,
            data.relevant,
            k_values,
            catalog_size=len(data.item_ids),
            item_genres=genres,
            item_share=data.item_share,
            novelty_floor=floor,
        )
        for name, r in recs.items()
    }
