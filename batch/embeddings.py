"""User and item vectors from Spark ML ALS on implicit feedback (Hu, Koren & Volinsky confidence weighting).

ALS needs dense integer ids, so ids are ranked to 0..n-1 here and the factors come back as numpy matrices
keyed by the original string ids: everything after this step (ranker, FAISS, registry) works on numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from batch.config import AlsConfig


@dataclass
class Embeddings:
    """Row ``i`` of ``user_vecs`` belongs to ``user_ids[i]`` (same for items)."""

    user_ids: list[str]
    user_vecs: np.ndarray
    item_ids: list[str]
    item_vecs: np.ndarray
    _user_pos: dict[str, int] = field(default_factory=dict, repr=False)
    _item_pos: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_pos = {u: i for i, u in enumerate(self.user_ids)}
        self._item_pos = {it: i for i, it in enumerate(self.item_ids)}

    @property
    def rank(self) -> int:
        return int(self.item_vecs.shape[1])

    def user_pos(self, user_id: str) -> int:
        return self._user_pos.get(user_id, -1)

    def item_pos(self, item_id: str) -> int:
        return self._item_pos.get(item_id, -1)

    def item_matrix_for(self, item_ids: list[str]) -> np.ndarray:
        """Vectors for ``item_ids`` in that order; zeros for items ALS never saw."""
        out = np.zeros((len(item_ids), self.rank), dtype=np.float32)
        pos = np.array([self.item_pos(i) for i in item_ids], dtype=np.int64)
        known = pos >= 0
        out[known] = self.item_vecs[pos[known]]
        return out

    def user_matrix_for(self, user_ids: list[str]) -> np.ndarray:
        out = np.zeros((len(user_ids), self.rank), dtype=np.float32)
        pos = np.array([self.user_pos(u) for u in user_ids], dtype=np.int64)
        known = pos >= 0
        out[known] = self.user_vecs[pos[known]]
        return out


def _dense_ids(df: DataFrame, col: str) -> DataFrame:
    return (
        df.select(col).distinct().withColumn(f"{col}_idx", (F.dense_rank().over(Window.orderBy(col)) - 1).cast("int"))
    )


def fit_als(feedback: DataFrame, cfg: AlsConfig) -> Embeddings:
    """Fit implicit ALS on ``user_id, item_id, strength`` and return the factors as numpy matrices."""
    users, items = _dense_ids(feedback, "user_id").cache(), _dense_ids(feedback, "item_id").cache()
    data = feedback.join(users, "user_id").join(items, "item_id").select("user_id_idx", "item_id_idx", "strength")
    als = ALS(
        rank=cfg.rank,
        regParam=cfg.reg,
        maxIter=cfg.iters,
        alpha=cfg.alpha,
        implicitPrefs=True,
        userCol="user_id_idx",
        itemCol="item_id_idx",
        ratingCol="strength",
        seed=cfg.seed,
        coldStartStrategy="drop",
        nonnegative=False,
        numUserBlocks=cfg.blocks,
        numItemBlocks=cfg.blocks,
    )
    model = als.fit(data)

    def collect(factors: DataFrame, index: DataFrame, col: str) -> tuple[list[str], np.ndarray]:
        rows = factors.join(index, factors["id"] == index[f"{col}_idx"]).select(col, "features").orderBy(col).collect()
        ids = [r[col] for r in rows]
        mat = np.asarray([r["features"] for r in rows], dtype=np.float32).reshape(len(rows), cfg.rank)
        return ids, mat

    user_ids, user_vecs = collect(model.userFactors, users, "user_id")
    item_ids, item_vecs = collect(model.itemFactors, items, "item_id")
    users.unpersist()
    items.unpersist()
    return Embeddings(user_ids, user_vecs, item_ids, item_vecs)
