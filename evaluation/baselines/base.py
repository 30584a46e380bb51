"""What every offline method shares: the training events as item indices, and top-k without seen items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa

from hybridrec.nextitem import ENGAGEMENT_TYPES


@dataclass(frozen=True)
class Training:
    """Engagements of the training period: item vocabulary, each user's item sequence in stream order."""

    items: list[str]
    index: Mapping[str, int]
    sequences: Mapping[str, list[int]]
    counts: np.ndarray  # engagements per item

    @classmethod
    def from_table(cls, events: pa.Table, engagement: Sequence[str] = ENGAGEMENT_TYPES) -> Training:
        """From an archive-schema table in stream order (only engagement events count)."""
        wanted = set(engagement)
        index: dict[str, int] = {}
        sequences: dict[str, list[int]] = {}
        for u, i, kind in zip(
            events.column("user_id").to_pylist(),
            events.column("item_id").to_pylist(),
            events.column("event_type").to_pylist(),
            strict=True,
        ):
            if kind in wanted:
                sequences.setdefault(u, []).append(index.setdefault(i, len(index)))
        counts = np.bincount(
            np.fromiter((j for s in sequences.values() for j in s), np.int64), minlength=len(index)
        ).astype(np.float64)
        return cls(list(index), index, sequences, counts)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def encode(self, items: Sequence[str]) -> list[int]:
        """Item ids → indices, dropping items the training never saw."""
        return [self.index[i] for i in items if i in self.index]

    def binary(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """One row per history: 1.0 on the items it holds (float32)."""
        x = np.zeros((len(histories), self.n_items), dtype=np.float32)
        for r, h in enumerate(histories):
            x[r, list(h)] = 1.0
        return x


class Method(Protocol):
    """An offline recommender: fit on the training period, then score every item for histories."""

    name: str

    def fit(self, train: Training) -> None: ...

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(histories), n_items) scores; histories are item indices, oldest first."""
        ...


def top_k(
    method: Method, train: Training, histories: Sequence[Sequence[int]], k: int, chunk: int = 512
) -> list[list[str]]:
    """Each history's best ``k`` items it does not hold, best first (ties by item index)."""
    out: list[list[str]] = []
    for s in range(0, len(histories), chunk):
        part = histories[s : s + chunk]
        scores = np.asarray(method.scores(part), dtype=np.float64)
        for r, h in enumerate(part):
            scores[r, list(h)] = -np.inf
        kk = min(k, train.n_items)
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        for r in range(len(part)):
            row = top[r][np.lexsort((top[r], -scores[r, top[r]]))]
            out.append([train.items[j] for j in row.tolist() if np.isfinite(scores[r, j])])
    return out
