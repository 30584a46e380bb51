"""Precomputed candidates for serving: each user's top K unseen items by ALS score (user · item vector),
written to the ``user_batch`` view as ``top_k_items`` / ``top_k_scores`` and materialized with it, together
with ``seen_hashes``: the compact set of every item the user engaged with (:mod:`hybridrec.seen`), which
serving's seen-filter reads in the same round trip.

Computed in Spark (``mapInPandas`` over users, the item matrix shipped to each task), so the driver never
holds the users' seen sets. Exact: a chunk of users is scored against every item, seen items are masked,
and the best K are kept. A user without an ALS vector (first seen after the embeddings' window) gets the
most popular items they have not engaged with, scored by their popularity share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.embeddings import Embeddings
from hybridrec import seen as seen_codec

SCHEMA = "user_id string, top_k_items array<string>, top_k_scores array<float>, seen_hashes binary"


def top_k_unseen(
    user_vecs: np.ndarray, seen: Sequence[np.ndarray], item_vecs: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``user_vecs``: positions of its best ``k`` items not in ``seen[row]`` (best first) and their
    scores; rows with fewer than ``k`` unseen items are padded with position -1 (pure numpy, unit-tested)."""
    scores = user_vecs.astype(np.float32) @ item_vecs.astype(np.float32).T
    for row, s in enumerate(seen):
        scores[row, s] = -np.inf
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    top, top_scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
    top[~np.isfinite(top_scores)] = -1
    return top, top_scores


def _scorer(emb: Embeddings, popular: list[str], popular_share: dict[str, float], k: int, chunk: int):
    item_ids = np.array(emb.item_ids, dtype=object)
    item_vecs = np.ascontiguousarray(emb.item_vecs, dtype=np.float32)
    user_pos = dict(zip(emb.user_ids, range(len(emb.user_ids)), strict=True))
    user_vecs = np.ascontiguousarray(emb.user_vecs, dtype=np.float32)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        item_pos = {it: i for i, it in enumerate(item_ids)}
        for pdf in batches:
            for s in range(0, len(pdf), chunk):
                part = pdf.iloc[s : s + chunk]
                users = part["user_id"].tolist()
                seen_lists = [list(x) if x is not None else [] for x in part["seen"]]
                pos = np.array([user_pos.get(u, -1) for u in users], dtype=np.int64)
                known = np.flatnonzero(pos >= 0)
                items_out: list[list[str]] = [[] for _ in users]
                scores_out: list[list[float]] = [[] for _ in users]
                if len(known):
                    seen_idx = [
                        np.array([item_pos[i] for i in seen_lists[r] if i in item_pos], dtype=np.int64) for r in known
                    ]
                    top, top_s = top_k_unseen(user_vecs[pos[known]], seen_idx, item_vecs, k)
                    for j, r in enumerate(known):
                        ok = top[j] >= 0
                        items_out[r] = item_ids[top[j][ok]].tolist()
                        scores_out[r] = top_s[j][ok].astype(float).tolist()
                for r in np.flatnonzero(pos < 0):
                    seen_set = set(seen_lists[r])
                    picks = [i for i in popular if i not in seen_set][:k]
                    items_out[r] = picks
                    scores_out[r] = [float(popular_share.get(i, 0.0)) for i in picks]
                seen_out = [seen_codec.encode(s) for s in seen_lists]
                yield pd.DataFrame(
                    {"user_id": users, "top_k_items": items_out, "top_k_scores": scores_out, "seen_hashes": seen_out}
                )

    return score


def top_k_frame(
    events: DataFrame,
    emb: Embeddings,
    popular: list[str],
    popular_share: dict[str, float],
    as_of_ms: int,
    k: int,
    chunk: int = 256,
) -> DataFrame:
    """``user_id, top_k_items, top_k_scores, seen_hashes`` for every user with an event before ``as_of_ms``;
    seen = the items the user engaged with before ``as_of_ms``."""
    past = events.filter(F.col("event_time_ms") < as_of_ms)
    users = past.groupBy("user_id").agg(F.collect_set(F.when(F.col("engaged"), F.col("item_id"))).alias("seen"))
    fallback = popular[: k + 10_000]  # enough to skip any plausible seen set of a user without a vector
    shares = {i: popular_share.get(i, 0.0) for i in fallback}
    return users.mapInPandas(_scorer(emb, fallback, shares, k, chunk), SCHEMA)


def attach(user_features: DataFrame, top_k: DataFrame) -> DataFrame:
    """``user_batch`` rows with the candidate columns and the seen set (empty for a user without any)."""
    j = user_features.join(top_k, "user_id", "left")
    return (
        j.withColumn("top_k_items", F.coalesce("top_k_items", F.array().cast("array<string>")))
        .withColumn("top_k_scores", F.coalesce("top_k_scores", F.array().cast("array<float>")))
        .withColumn("seen_hashes", F.coalesce("seen_hashes", F.lit(b"").cast("binary")))
    )
