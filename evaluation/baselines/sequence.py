"""The sequence-aware next-item model (:mod:`hybridrec.sequence`) as an offline method, and a blend of methods'
scores: the offline try of issue #15 item 4 ("a sequence-aware candidate source"), judged on the replay's
targets beside the item-to-item baseline before anything of it is served."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evaluation.baselines.base import Method, Training
from hybridrec import sequence


class NextItem:
    name = "sequence model"

    def __init__(self, **params: Any) -> None:
        self.cfg = sequence.SequenceConfig(**params)
        self._model: sequence.NextItemModel | None = None

    def fit(self, train: Training) -> None:
        self._model = sequence.train(train.sequences.values(), train.n_items, self.cfg)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        assert self._model is not None, "fit first"
        return sequence.score(self._model, histories)


def reciprocal_ranks(scores: np.ndarray, histories: Sequence[Sequence[int]]) -> np.ndarray:
    """Per row, 1/(60 + rank) among the items the user has not engaged with (as serving fuses orders)."""
    s = np.asarray(scores, dtype=np.float64).copy()
    for r, h in enumerate(histories):
        s[r, list(h)] = -np.inf
    s[~np.isfinite(s)] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")
    out = np.empty_like(s)
    np.put_along_axis(out, order, 1.0 / (60.0 + np.arange(s.shape[1], dtype=np.float64))[None, :], axis=1)
    return out


class Blend:
    """``weight`` × the first method's scores + (1 − weight) × the second's, made comparable per user either by
    min-max scaling (``how="score"``: :func:`hybridrec.sequence.blend`, what serving's FOR_YOU prior computes)
    or as reciprocal ranks (``how="rank"``). The parts are fit once per training set and shared by every blend
    made from one :func:`blends` factory, so a grid over the weight trains nothing twice."""

    name = "blend"

    def __init__(self, fitted: Callable[[Training], tuple[Method, Method]], weight: float, how: str) -> None:
        self._fitted, self.weight, self.how = fitted, weight, how
        self._parts: tuple[Method, Method] | None = None

    def fit(self, train: Training) -> None:
        self._parts = self._fitted(train)

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        assert self._parts is not None, "fit first"
        a, b = (m.scores(histories) for m in self._parts)
        if self.how == "rank":
            return self.weight * reciprocal_ranks(a, histories) + (1.0 - self.weight) * reciprocal_ranks(b, histories)
        return np.stack([sequence.blend(a[r], b[r], self.weight, h) for r, h in enumerate(histories)])


def blends(first: Callable[[], Method], second: Callable[[], Method]) -> Callable[..., Blend]:
    """A factory ``make(weight=…, how=…)`` of blends of two methods that share their fitted parts."""
    cache: dict[int, tuple[Training, tuple[Method, Method]]] = {}

    def fitted(train: Training) -> tuple[Method, Method]:
        hit = cache.get(id(train))
        if hit is None or hit[0] is not train:
            parts = (first(), second())
            for m in parts:
                m.fit(train)
            cache[id(train)] = hit = (train, parts)
        return hit[1]

    def make(weight: float, how: str = "rank") -> Blend:
        return Blend(fitted, weight, how)

    return make
