"""EASE (Steck, 2019): a closed-form item-item model, B = I - P / diag(P) with P = (XᵀX + λI)⁻¹.

Fed with the user's whole engagement set before the target (history and fresh events), so fresh events count
the moment they happen. Items engaged fewer than ``min_count`` times in training are left out of the model
(their rows are mostly regularisation, and the inverse is cubic in the number of items).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evaluation.baselines.base import Training


class Ease:
    name = "EASE"

    def __init__(self, lam: float = 250.0, min_count: int = 2) -> None:
        self.lam, self.min_count = lam, min_count
        self._b = torch.zeros(0, 0)
        self._keep = np.zeros(0, dtype=np.int64)
        self._n = 0

    def fit(self, train: Training) -> None:
        self._n = train.n_items
        self._keep = np.flatnonzero(train.counts >= self.min_count)
        pos = np.full(train.n_items, -1, dtype=np.int64)
        pos[self._keep] = np.arange(len(self._keep))
        rows = [[p for p in pos[sorted(set(s))].tolist() if p >= 0] for s in train.sequences.values()]
        x = torch.zeros(len(rows), len(self._keep))
        for r, cols in enumerate(rows):
            x[r, cols] = 1.0
        g = (x.T @ x).double()
        g.diagonal().add_(self.lam)
        p = torch.cholesky_inverse(torch.linalg.cholesky(g))  # symmetric positive definite: ~2x an LU inverse
        b = -p / p.diagonal()
        b.diagonal().zero_()
        self._b = b.float()

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        x = torch.zeros(len(histories), self._n)
        for r, h in enumerate(histories):
            x[r, list(h)] = 1.0
        out = np.full((len(histories), self._n), -np.inf, dtype=np.float32)
        out[:, self._keep] = (x[:, self._keep] @ self._b).numpy()
        return out
