"""Session-style item-to-item: items engaged close together in users' sequences are neighbours (co-occurrence
within ``window`` positions, weighted 1/distance, cosine-normalised by item counts); a user is scored from
their ``last`` newest engagements, each older one weighted ``decay`` times less (session kNN in spirit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluation.baselines.base import Training


class CoOccurrence:
    name = "item-to-item (co-occurrence)"

    def __init__(self, window: int = 10, last: int = 5, decay: float = 0.7) -> None:
        self.window, self.last, self.decay = window, last, decay
        self._sim = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Training) -> None:
        n = train.n_items
        keys: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for seq in train.sequences.values():
            s = np.asarray(seq, dtype=np.int64)
            for d in range(1, min(self.window, len(s) - 1) + 1):
                a, b = s[:-d], s[d:]
                keep = a != b
                keys += [a[keep] * n + b[keep], b[keep] * n + a[keep]]
                weights += [np.full(int(keep.sum()), 1.0 / d)] * 2
        sim = np.zeros(n * n, dtype=np.float32)  # dense: the evaluation catalogs have ≤ ~10k items
        if keys:
            k, inverse = np.unique(np.concatenate(keys), return_inverse=True)
            sim[k] = np.bincount(inverse, weights=np.concatenate(weights))
        sim = sim.reshape(n, n)
        norm = np.sqrt(np.maximum(train.counts, 1.0)).astype(np.float32)
        sim /= norm[:, None]
        sim /= norm[None, :]
        self._sim = sim

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(histories), self._sim.shape[0]), dtype=np.float32)
        for r, h in enumerate(histories):
            for age, j in enumerate(reversed(list(h)[-self.last :])):
                out[r] += self.decay**age * self._sim[j]
        return out
