"""What the ranker reads about users and items, as plain data, and the interface every backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class UserFeatures:
    """A user's fresh (speed layer) and batch features; ``None`` where the store has nothing."""

    recent_items: tuple[str, ...] = ()
    session_genres: tuple[float, ...] | None = None
    taste_genres: tuple[float, ...] | None = None
    last_event_ms: int | None = None
    genre_profile: tuple[float, ...] | None = None
    n_events: float = 0.0
    n_ratings: float = 0.0
    mean_rating: float = 0.0
    first_event_ms: int | None = None
    hidden_items: frozenset[str] = field(default_factory=frozenset)  # HIDE events (speed layer)
    engaged_items: tuple[str, ...] = ()  # distinct items engaged with, newest first (speed layer)
    last_engaged_ms: int | None = None  # the newest engagement's time (``last_event_ms`` counts impressions too)
    top_k_items: tuple[str, ...] = ()  # the batch layer's precomputed candidates, best first
    top_k_scores: tuple[float, ...] = ()  # their scores, same order (empty when absent or mismatched)
    seen_hashes: bytes = b""  # batch history: every item engaged with (hybridrec.seen format)

    @property
    def has_fresh(self) -> bool:
        return self.last_event_ms is not None

    @property
    def has_batch(self) -> bool:
        return self.first_event_ms is not None or self.genre_profile is not None


@dataclass(frozen=True)
class ItemFeatures:
    """``item_batch`` of one item: changes nightly, so the ranker holds all of them in memory with the model."""

    popularity: float = 0.0
    n_ratings: float = 0.0
    mean_rating: float = 0.0
    genres: tuple[str, ...] = ()
    year: float = 0.0
    age_days: float = 0.0


@dataclass(frozen=True)
class Trending:
    """``item_fresh`` of one item (speed layer): the newest 1 h window count and the decayed popularities."""

    count: int
    window_end_ms: int
    decayed_popularity: float = 0.0  # Σ 2^-(T - t)/half_life over engagement events, at T = last_event_ms
    last_event_ms: int = 0
    popularity_recent: float = 0.0  # the same with the weeks-long half-life of FOR_YOU's recent-popularity part
    # that count at every half-life the speed layer keeps it at (ms → value; fresh_features.recent_popularity_values)
    recent_by_half_life: Mapping[int, float] = field(default_factory=dict)

    def recent_at(self, half_life_ms: int) -> float:
        """FOR_YOU's recent popularity kept at ``half_life_ms`` (``popularity_recent`` when not read at it)."""
        return self.recent_by_half_life.get(half_life_ms, self.popularity_recent)


class FeatureReader(Protocol):
    async def read_user(self, user_id: str) -> UserFeatures | None:
        """Both user views in one round trip; None when the store knows nothing of the user."""
        ...

    async def read_items(self, item_ids: Sequence[str]) -> dict[str, ItemFeatures]:
        """``item_batch`` of many items (model load, background); missing items are left out."""
        ...

    async def read_trending(self, item_ids: Sequence[str]) -> dict[str, Trending]:
        """``item_fresh`` of many items (background refresh); items with neither a count nor a popularity are
        left out."""
        ...

    async def close(self) -> None: ...
