"""The item-to-item neighbour lists published with a version (:mod:`hybridrec.neighbours`: co-occurrence and
EASE): every user's engagement sequence of the window in stream order, over the model's item positions.

The engagements come to the driver as one pandas frame, are sorted and split into one array per user, and the
pairs are counted there with numpy. That holds the window's engagements in driver memory once (some 100 MB per
million rows with their ids); past a few million the pair counting belongs in a Spark aggregation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.sql import DataFrame

from batch.config import EaseConfig, NeighboursConfig
from hybridrec import neighbours


def sequences(events: DataFrame, item_ids: Sequence[str]) -> list[np.ndarray]:
    """Each user's engaged items in stream order (time, then event id), as positions in ``item_ids``; items
    outside the vocabulary are left out of the sequence."""
    pdf = events.filter("engaged").select("user_id", "item_id", "event_time_ms", "event_id").toPandas()
    if pdf.empty:
        return []
    pdf = pdf.sort_values(["user_id", "event_time_ms", "event_id"], kind="stable")
    pos = pdf["item_id"].map({item: k for k, item in enumerate(item_ids)}).fillna(-1).to_numpy(np.int64)
    users = pdf["user_id"].to_numpy()
    cuts = np.flatnonzero(users[1:] != users[:-1]) + 1
    return [s[s >= 0] for s in np.split(pos, cuts)]


def item_neighbours(
    seqs: Sequence[np.ndarray], item_ids: Sequence[str], cfg: NeighboursConfig
) -> neighbours.Neighbours:
    """Co-occurrence lists from :func:`sequences` of the window."""
    counts = np.bincount(np.concatenate(seqs), minlength=len(item_ids)) if seqs else np.zeros(len(item_ids))
    return neighbours.cooccurrence(seqs, counts.astype(np.float64), cfg.window, cfg.k)


def ease_neighbours(seqs: Sequence[np.ndarray], item_ids: Sequence[str], cfg: EaseConfig) -> neighbours.Neighbours:
    """EASE's lists from :func:`sequences` of the window (the driver inverts one dense matrix of the kept items)."""
    return neighbours.ease(seqs, len(item_ids), cfg.lam, cfg.k, cfg.max_items)
