"""The item-to-item neighbour lists published with a version (:mod:`hybridrec.neighbours`): every user's
engagement sequence of the window in stream order, over the model's item positions.

The sequences come to the driver as one array per user (Spark sorts and groups them); the pairs are counted
there with numpy. That holds the window's engagements in driver memory once (about 10 MB per million); past
that size the pair counting belongs in a Spark aggregation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.config import NeighboursConfig
from hybridrec import neighbours


def sequences(events: DataFrame, item_ids: Sequence[str]) -> list[np.ndarray]:
    """Each user's engaged items in stream order (time, then event id), as positions in ``item_ids``; items
    outside the vocabulary are left out of the sequence."""
    pos = {item: k for k, item in enumerate(item_ids)}
    grouped = (
        events.filter("engaged")
        .groupBy("user_id")
        .agg(F.sort_array(F.collect_list(F.struct("event_time_ms", "event_id", "item_id"))).alias("seq"))
    )
    out = []
    for row in grouped.toLocalIterator():
        s = np.fromiter((pos.get(e["item_id"], -1) for e in row["seq"]), np.int64)
        out.append(s[s >= 0])
    return out


def item_neighbours(events: DataFrame, item_ids: Sequence[str], cfg: NeighboursConfig) -> neighbours.Neighbours:
    seqs = sequences(events, item_ids)
    counts = np.bincount(np.concatenate(seqs), minlength=len(item_ids)) if seqs else np.zeros(len(item_ids))
    return neighbours.cooccurrence(seqs, counts.astype(np.float64), cfg.window, cfg.k)
