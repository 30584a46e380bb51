"""Session-style item-to-item (:mod:`hybridrec.neighbours`, the definition the nightly batch publishes for
serving): items engaged close together in users' sequences are neighbours; a user is scored from their
``last`` newest engagements, each older one weighted ``decay`` times less. The baseline keeps every
neighbour (serving keeps the best ``k`` per item)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluation.baselines.base import Training
from hybridrec import neighbours


class CoOccurrence:
    name = "item-to-item (co-occurrence)"

    def __init__(self, window: int = 10, last: int = 5, decay: float = 0.7) -> None:
        self.window, self.last, self.decay = window, last, decay
        self._nb = neighbours.Neighbours.empty(0)

    def fit(self, train: Training) -> None:
        self._nb = neighbours.cooccurrence(train.sequences.values(), train.counts, self.window)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(histories), self._nb.n_items), dtype=np.float32)
        for r, h in enumerate(histories):
            out[r] = neighbours.score_all(self._nb, list(reversed(list(h)[-self.last :])), self.decay)
        return out
