"""Fresh-feature math of the speed layer, with no I/O: incremental per-user and per-item state.

The Flink job feeds these functions with the events of one key and one event-time micro-window at a time,
in event-time order (the window fires once the watermark has passed it, so every event within the allowed
out-of-orderness is in it). ``streaming/reference.py`` computes the same features from a whole event list
directly from their definitions; unit tests hold the two equal.

Definitions (``StreamingConfig`` holds every window and half-life):
- recent items, session and taste look only at *engagement* events (``engagement_types``);
- a session ends after ``session_gap_ms`` without engagement; ``session_genres`` is the mean genre vector of
  its items; ``taste_genres`` is the sum of item genre vectors decayed by ``taste_half_life_ms`` to the last
  engagement, normalised to sum 1;
- ``counts_1h``/``counts_1d`` count events of every type (index = ``EventType`` number) in the windows
  ``(last_event_ms - window, last_event_ms]``;
- ``hidden_items`` are the distinct items of HIDE events, newest hide first, at most ``hidden_n``;
- item ``decayed_popularity`` is the sum over engagement events of ``2^-(T - t)/half_life`` at T = the item's
  last engagement time; ``trending_1h`` is the engagement count of the newest fired HOP window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hybridrec.contract import GENRES
from hybridrec_pb.events_pb2 import EventType

N_EVENT_TYPES = max(EventType.values()) + 1
N_GENRES = len(GENRES)
HIDE = EventType.HIDE

GenreLookup = Callable[[str], list[float]]


@dataclass(frozen=True, order=True)
class Event:
    """The fields of an interaction the features need; ordering is event-time order, ties by event id."""

    event_time_ms: int
    event_id: str
    item_id: str
    event_type: int


def sort_events(events: Iterable[Event]) -> list[Event]:
    return sorted(events)


def decay(half_life_ms: int, dt_ms: int) -> float:
    return 2.0 ** (-dt_ms / half_life_ms)


def normalised(vec: Sequence[float]) -> list[float]:
    total = sum(vec)
    return [v / total for v in vec] if total > 0 else [0.0] * len(vec)


@dataclass
class UserState:
    """Everything kept per user in Flink state (pickled as one value)."""

    recent: list[tuple[str, int]] = field(default_factory=list)   # (item, time), newest first
    session_start_ms: int = 0
    session_items: list[str] = field(default_factory=list)
    session_genre_sum: list[float] = field(default_factory=lambda: [0.0] * N_GENRES)
    taste: list[float] = field(default_factory=lambda: [0.0] * N_GENRES)
    last_engagement_ms: int = 0
    last_event_ms: int = 0
    window_events: list[tuple[int, int]] = field(default_factory=list)  # (time, type), oldest first
    hidden: list[str] = field(default_factory=list)  # distinct hidden items, newest first

    def to_tuple(self) -> tuple:
        """Plain tuples and lists: ``marshal`` stores them ~5x faster than pickling the dataclass."""
        return (self.recent, self.session_start_ms, self.session_items, self.session_genre_sum, self.taste,
                self.last_engagement_ms, self.last_event_ms, self.window_events, self.hidden)

    @classmethod
    def from_tuple(cls, t: tuple) -> UserState:
        recent, start, items, genre_sum, taste, last_eng, last, window, *hidden = t
        return cls(recent, start, items, genre_sum, taste, last_eng, last, window, hidden[0] if hidden else [])


@dataclass(frozen=True)
class UserParams:
    recent_n: int
    session_gap_ms: int
    taste_half_life_ms: int
    counts_short_ms: int
    counts_long_ms: int
    engagement_types: frozenset[int]
    hidden_n: int = 50


def apply_user_events(state: UserState, events: Sequence[Event], params: UserParams,
                      genres: GenreLookup) -> UserState:
    """Fold events (already in event-time order) into the user's state, in place; returns it."""
    for e in events:
        state.window_events.append((e.event_time_ms, e.event_type))
        state.last_event_ms = max(state.last_event_ms, e.event_time_ms)
        if e.event_type == HIDE:
            hidden = state.hidden
            if e.item_id in hidden:
                hidden.remove(e.item_id)
            hidden.insert(0, e.item_id)
            del hidden[params.hidden_n:]
        if e.event_type not in params.engagement_types:
            continue
        vec = genres(e.item_id)
        if not state.session_items or e.event_time_ms - state.last_engagement_ms > params.session_gap_ms:
            state.session_start_ms = e.event_time_ms
            state.session_items = []
            state.session_genre_sum = [0.0] * N_GENRES
        state.session_items.append(e.item_id)
        state.session_genre_sum = [a + b for a, b in zip(state.session_genre_sum, vec, strict=True)]
        k = decay(params.taste_half_life_ms, e.event_time_ms - state.last_engagement_ms) \
            if state.last_engagement_ms else 0.0
        state.taste = [a * k + b for a, b in zip(state.taste, vec, strict=True)]
        state.last_engagement_ms = e.event_time_ms
        state.recent.insert(0, (e.item_id, e.event_time_ms))
        del state.recent[params.recent_n:]
    horizon = state.last_event_ms - params.counts_long_ms
    if state.window_events and state.window_events[0][0] <= horizon:
        state.window_events = [(t, k) for t, k in state.window_events if t > horizon]
    return state


def counts_since(window_events: Iterable[tuple[int, int]], short_after_ms: int, long_after_ms: int
                 ) -> tuple[list[int], list[int]]:
    """Counts per type of events after ``short_after_ms`` and after ``long_after_ms``, in one pass."""
    short = [0] * N_EVENT_TYPES
    long = [0] * N_EVENT_TYPES
    for t, k in window_events:
        if t > long_after_ms:
            long[k] += 1
            if t > short_after_ms:
                short[k] += 1
    return short, long


def user_features(state: UserState, params: UserParams) -> dict[str, object]:
    """The ``user_fresh`` feature values of a state (names and types of feature_repo/definitions.py)."""
    n_session = len(state.session_items)
    short, long = counts_since(state.window_events, state.last_event_ms - params.counts_short_ms,
                               state.last_event_ms - params.counts_long_ms)
    return {
        "recent_items": [item for item, _ in state.recent],
        "recent_item_times_ms": [t for _, t in state.recent],
        "session_start_ms": state.session_start_ms,
        "session_items": list(state.session_items),
        "session_genres": [v / n_session for v in state.session_genre_sum] if n_session else [0.0] * N_GENRES,
        "taste_genres": normalised(state.taste),
        "counts_1h": short,
        "counts_1d": long,
        "last_event_ms": state.last_event_ms,
        "hidden_items": list(state.hidden),
    }


@dataclass
class ItemState:
    popularity: float = 0.0          # decayed count at last_event_ms
    last_event_ms: int = 0
    trending: int = 0
    trending_window_end_ms: int = 0

    def to_tuple(self) -> tuple:
        return (self.popularity, self.last_event_ms, self.trending, self.trending_window_end_ms)

    @classmethod
    def from_tuple(cls, t: tuple) -> ItemState:
        return cls(*t)


def add_item_events(state: ItemState, times_ms: Iterable[int], half_life_ms: int) -> ItemState:
    """Add engagement events (any order: the decayed sum at the newest time does not depend on it)."""
    times = list(times_ms)
    if not times:
        return state
    newest = max(max(times), state.last_event_ms)
    pop = state.popularity * decay(half_life_ms, newest - state.last_event_ms) if state.last_event_ms else 0.0
    state.popularity = pop + sum(decay(half_life_ms, newest - t) for t in times)
    state.last_event_ms = newest
    return state


def set_item_trending(state: ItemState, window_end_ms: int, count: int) -> ItemState:
    """Keep the newest fired window's count (windows of one item fire in order; max() guards replays)."""
    if window_end_ms >= state.trending_window_end_ms:
        state.trending = count
        state.trending_window_end_ms = window_end_ms
    return state


def item_features(state: ItemState) -> dict[str, object]:
    return {
        "trending_1h": state.trending,
        "trending_window_end_ms": state.trending_window_end_ms,
        "decayed_popularity": state.popularity,
        "last_event_ms": state.last_event_ms,
    }
