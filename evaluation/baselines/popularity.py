"""Popularity of the training period, without what the user already engaged with (what the served POPULAR row
does since serving's seen-filter covers the batch history and the fresh events)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluation.baselines.base import Training


class Popularity:
    name = "popularity (unseen)"

    def __init__(self) -> None:
        self._counts = np.zeros(0)

    def fit(self, train: Training) -> None:
        self._counts = train.counts.astype(np.float32)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        return np.broadcast_to(self._counts, (len(histories), len(self._counts))).copy()
