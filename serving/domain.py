"""Plain request and response objects of the ranker: the servicer translates protos to these and back, and
everything between works on them (no protobuf below the servicer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class RowKind(StrEnum):
    FOR_YOU = "for_you"
    BECAUSE_YOU_WATCHED = "because_you_watched"
    TRENDING = "trending"
    TOP_GENRE = "top_genre"
    POPULAR = "popular"
    SIMILAR = "similar"  # GetSimilarItems: logged like a row, never planned on the homepage

    @property
    def profiling(self) -> bool:
        """Whether the row is built from the user's data (excluded when personalized=false)."""
        return self in (RowKind.FOR_YOU, RowKind.BECAUSE_YOU_WATCHED, RowKind.TOP_GENRE)


HOMEPAGE_ORDER = (RowKind.FOR_YOU, RowKind.BECAUSE_YOU_WATCHED, RowKind.TRENDING, RowKind.TOP_GENRE, RowKind.POPULAR)


@dataclass(frozen=True)
class Context:
    device: str  # Device enum name, e.g. "TV"
    country: str
    time_ms: int


@dataclass(frozen=True)
class HomepageQuery:
    user_id: str
    context: Context
    n_rows: int
    items_per_row: int
    personalized: bool
    request_id: str
    deadline_s: float  # seconds left when the call arrived
    only: RowKind | None = None  # GetRow: just this row type


@dataclass(frozen=True)
class SimilarQuery:
    item_id: str
    n_items: int
    request_id: str
    deadline_s: float


@dataclass
class Slot:
    item_id: str
    score: float
    reason: str
    explored: bool = False
    propensity: float = 1.0


@dataclass
class Row:
    row_id: str
    kind: RowKind
    title: str
    reason: str
    items: list[Slot] = field(default_factory=list)
    positions: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The slots' model positions (−1: an item the model does not know), where assembly had them."""


@dataclass
class Page:
    request_id: str
    rows: list[Row]
    model_version: str
    variant: str
    degraded: list[str]
    personalized: bool
    user_id: str = ""
    stage_ms: dict[str, float] = field(default_factory=dict)
