"""Scoring lists against replay targets (pure): the shared metrics per segment of users, plus what the served
rows get wrong that a metric alone hides (items the user already engaged with, degraded answers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridrec import metrics
from hybridrec.contract import genre_vector
from hybridrec.datasets import Item
from hybridrec.nextitem import Target

K_VALUES = (10, 20)
HEADLINE = ("ndcg@10", "hr@10", "recall@20", "coverage@20", "genre_entropy@20", "novelty@20")
SEGMENTS = ("all", "returning", "new")


@dataclass(frozen=True)
class Catalog:
    """What coverage, genre entropy and novelty are computed against."""

    size: int
    genres: Mapping[str, Sequence[float]]  # item → genre vector on the contract's axis
    share: Mapping[str, float]  # item → share of the history's engagements

    @classmethod
    def of(cls, items: Sequence[Item], history_counts: Mapping[str, int]) -> Catalog:
        total = float(sum(history_counts.values())) or 1.0
        return cls(
            len(items),
            {i.item_id: genre_vector(i.genres) for i in items},
            {i: n / total for i, n in history_counts.items()},
        )


def segment(targets: Sequence[Target]) -> dict[str, list[int]]:
    """Target indices of every user, of returning users (engaged in the history) and of new users."""
    return {
        "all": list(range(len(targets))),
        "returning": [n for n, t in enumerate(targets) if t.returning],
        "new": [n for n, t in enumerate(targets) if not t.returning],
    }


def score(
    lists: Sequence[Sequence[str]],
    targets: Sequence[Target],
    catalog: Catalog,
    *,
    seen: Sequence[set[str]] | None = None,
    failed: Sequence[bool] | None = None,
) -> dict[str, float]:
    """The shared metrics of ``lists[n]`` against ``targets[n]``; with ``seen`` (what each target's user engaged
    with before it) also how many of those the top 20 holds on average; with ``failed``, how many answers
    were degraded or errors."""
    out = metrics.evaluate(
        dict(enumerate(lists)),
        {n: {t.item_id} for n, t in enumerate(targets)},
        K_VALUES,
        catalog_size=catalog.size,
        item_genres=catalog.genres,
        item_share=catalog.share,
        novelty_floor=metrics.novelty_floor(catalog.share),
    )
    out["targets"] = out.pop("cases")
    if seen is not None:
        out["seen@20"] = sum(len(set(r[:20]) & s) for r, s in zip(lists, seen, strict=True)) / max(len(lists), 1)
    if failed is not None:
        out["degraded"] = float(sum(failed))
    return out


def by_segment(
    lists: Sequence[Sequence[str]],
    targets: Sequence[Target],
    catalog: Catalog,
    *,
    seen: Sequence[set[str]] | None = None,
    failed: Sequence[bool] | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`score` for every segment of :func:`segment`."""
    out = {}
    for name, idx in segment(targets).items():
        out[name] = score(
            [lists[n] for n in idx],
            [targets[n] for n in idx],
            catalog,
            seen=None if seen is None else [seen[n] for n in idx],
            failed=None if failed is None else [failed[n] for n in idx],
        )
    return out


def table(
    modes: Mapping[str, Mapping[str, Mapping[str, Any]]], seg: str = "all", columns: Sequence[str] = HEADLINE
) -> list[list[Any]]:
    """Rows ``[mode, metric...]`` of one segment (``modes``: mode → segment → metrics)."""
    return [[mode, *(m[seg].get(c, float("nan")) for c in columns)] for mode, m in modes.items()]
