"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) with fold-in: item factors are learned on the training
period; at query time the user's vector is solved from everything they engaged with before the target
(history and fresh events) against the fixed item factors, so a user new since training is not cold.

Each least-squares step is solved for all rows at once by conjugate gradient (as the ``implicit`` library
does): (YᵀY + Yᵀ(C−I)Y + λI) x = YᵀCp needs only products with the confidence matrix. The evaluation
datasets are small (≤ ~10k items), so that matrix is dense and every product is a matrix multiply.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evaluation.baselines.base import Training


def counts(rows: Sequence[Sequence[int]], n_cols: int) -> torch.Tensor:
    """Dense (len(rows), n_cols) engagement counts; repeats count."""
    out = torch.zeros(len(rows), n_cols)
    for r, row in enumerate(rows):
        if len(row):
            out[r].index_add_(0, torch.as_tensor(row, dtype=torch.long), torch.ones(len(row)))
    return out


def solve(
    fixed: torch.Tensor, count: torch.Tensor, alpha: float, reg: float, steps: int, start: torch.Tensor | None = None
) -> torch.Tensor:
    """Factors of the rows of ``count`` (n × len(fixed)) against the fixed factors, by ``steps`` of conjugate
    gradient from ``start`` (zeros when None). Confidence 1 + alpha·count on observed entries, 1 elsewhere."""
    f = fixed.shape[1]
    extra = alpha * count  # C − I
    gram = fixed.T @ fixed + reg * torch.eye(f)

    def product(x: torch.Tensor) -> torch.Tensor:
        return x @ gram + (extra * (x @ fixed.T)) @ fixed

    x = torch.zeros(count.shape[0], f) if start is None else start.clone()
    b = ((count > 0).float() + extra) @ fixed  # Yᵀ C p
    res = b - product(x)
    p = res.clone()
    rs = (res * res).sum(1)
    for _ in range(steps):
        ap = product(p)
        step = rs / (p * ap).sum(1).clamp_min(1e-20)
        x += step[:, None] * p
        res -= step[:, None] * ap
        new = (res * res).sum(1)
        p = res + (new / rs.clamp_min(1e-20))[:, None] * p
        rs = new
    return x


class ImplicitALS:
    name = "ALS (fold-in)"

    def __init__(
        self,
        factors: int = 64,
        reg: float = 1.0,
        alpha: float = 10.0,
        iters: int = 15,
        cg_steps: int = 3,
        fold_in_steps: int = 16,
        seed: int = 7,
    ) -> None:
        self.factors, self.reg, self.alpha, self.iters, self.seed = factors, reg, alpha, iters, seed
        self.cg_steps, self.fold_in_steps = cg_steps, fold_in_steps
        self.item_factors = torch.zeros(0, factors)

    def fit(self, train: Training) -> None:
        r = counts(list(train.sequences.values()), train.n_items)
        rt = r.T.contiguous()
        gen = torch.Generator().manual_seed(self.seed)
        items = torch.randn(train.n_items, self.factors, generator=gen) * 0.01
        users = torch.zeros(r.shape[0], self.factors)
        for _ in range(self.iters):
            users = solve(items, r, self.alpha, self.reg, self.cg_steps, users)
            items = solve(users, rt, self.alpha, self.reg, self.cg_steps, items)
        self.item_factors = items

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        c = counts(histories, self.item_factors.shape[0])
        users = solve(self.item_factors, c, self.alpha, self.reg, self.fold_in_steps)
        return (users @ self.item_factors.T).numpy()
