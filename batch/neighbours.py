"""The item-to-item neighbour lists published with a version (:mod:`hybridrec.neighbours`: co-occurrence and
EASE): every user's engagement sequence of the window in stream order, over the model's item positions.

The engagements come to the driver as one pandas frame, are sorted and split into one array per user, and the
pairs are counted there with numpy. That holds the window's engagements in driver memory once (some 100 MB per
million rows with their ids); past a few million the pair counting belongs in a Spark aggregation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from batch.config import EaseConfig, NeighboursConfig, PriorConfig
from hybridrec import neighbours, prior_choice
from hybridrec.fresh_features import recent_popularity_values


def engagements(events: DataFrame, item_ids: Sequence[str]) -> prior_choice.Engagements:
    """The window's engagements in stream order (time, then event id): users by id, items as positions in
    ``item_ids`` (−1 outside the vocabulary)."""
    pdf = events.filter("engaged").select("user_id", "item_id", "event_time_ms", "event_id").toPandas()
    pdf = pdf.sort_values(["event_time_ms", "event_id"], kind="stable")
    users = pd.factorize(pdf["user_id"], sort=True)[0].astype(np.int64)
    pos = pdf["item_id"].map({item: k for k, item in enumerate(item_ids)}).fillna(-1).to_numpy(np.int64)
    return prior_choice.Engagements(users, pos, pdf["event_time_ms"].to_numpy(np.int64))


def item_neighbours(
    seqs: Sequence[np.ndarray], item_ids: Sequence[str], cfg: NeighboursConfig
) -> neighbours.Neighbours:
    """Co-occurrence lists from the window's sequences (:meth:`prior_choice.Engagements.sequences`)."""
    counts = np.bincount(np.concatenate(seqs), minlength=len(item_ids)) if seqs else np.zeros(len(item_ids))
    return neighbours.cooccurrence(seqs, counts.astype(np.float64), cfg.window, cfg.k)


def ease_neighbours(seqs: Sequence[np.ndarray], item_ids: Sequence[str], cfg: EaseConfig) -> neighbours.Neighbours:
    """EASE's lists from the window's sequences (the driver inverts one dense matrix of the kept items)."""
    return neighbours.ease(seqs, len(item_ids), cfg.lam, cfg.k, cfg.max_items)


def choose_prior(
    e: prior_choice.Engagements, item_ids: Sequence[str], nb: NeighboursConfig, ease: EaseConfig, cfg: PriorConfig
) -> prior_choice.Choice | None:
    """FOR_YOU's prior weights chosen on the window's last part (:mod:`hybridrec.prior_choice`), with the lists
    built as published and the recent popularity at each half-life the speed layer keeps it at."""
    grid = prior_choice.Grid(cfg.weights, tuple(recent_popularity_values()))
    return prior_choice.choose(
        e,
        len(item_ids),
        lambda seqs: item_neighbours(seqs, item_ids, nb),
        lambda seqs: ease_neighbours(seqs, item_ids, ease) if ease.enabled else None,
        grid,
        validation_fraction=cfg.validation_fraction,
        seeds=cfg.seeds,
        decay=cfg.decay,
        max_per_user=cfg.max_targets_per_user,
        max_targets=cfg.max_targets,
    )
