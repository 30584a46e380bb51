"""Every fresh feature, declared once: what the speed layer computes, the batch layer trains on and serving reads.

A fresh view is an entity (users, items) and a list of aggregations over that entity's interaction events, each
one a small closed kind (:class:`LastN`, :class:`Session`, :class:`Trending`, …) with its event types, its
parameters and the feature names its outputs are stored under: the spirit of Chronon's ``GroupBy`` /
``Aggregation``. The speed layer's JVM operator executes these declarations generically (it gets them as a spec,
``streaming/java_features.py``), ``feature_repo/`` builds the Feast views from them, the batch layer's training
features come from the same JVM code over the archive, and serving reads the parameters it needs from here. So
adding a feature of an existing kind is one line below; only a new kind of aggregation touches the JVM.

Definitions shared by every kind. An entity's events are ordered by ``(event_time_ms, event_id)`` ("newest" is
the last in that order); an aggregation sees only the events whose type is in its ``events``; "T" is the time of
its newest such event. The speed layer folds every event in on arrival, in event-time order whatever the arrival
order, within a per-entity lateness bound (``streaming.allowed_lateness_ms``, for views with an order-sensitive
kind; see docs/streaming.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from hybridrec.contract import ITEM_FRESH_VIEW, USER_FRESH_VIEW
from hybridrec_pb.events_pb2 import EventType

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

ENGAGEMENT: tuple[str, ...] = ("PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS")
"""Event types that say the user engaged with the item (impressions and hides do not)."""
EVERY_EVENT: tuple[str, ...] = tuple(d.name for d in EventType.DESCRIPTOR.values if d.number != 0)
N_EVENT_TYPES = max(EventType.values()) + 1
"""Length of a per-type count vector: index = ``EventType`` number."""


@dataclass(frozen=True)
class Output:
    """One stored feature: its name, its Feast dtype and what it holds."""

    facet: str
    name: str
    dtype: str
    description: str


@dataclass(frozen=True)
class Aggregation:
    """Base of the kinds: the event types folded, and the feature name of each output (``None``: not stored).

    A subclass names its ``kind`` (the JVM implementation), its numeric parameters and, per output field (a
    ``str | None`` field named after the facet), the Feast dtype of that facet."""

    events: tuple[str, ...]
    kind: ClassVar[str]
    params: ClassVar[tuple[str, ...]] = ()
    facets: ClassVar[dict[str, str]] = {}  # facet → Feast dtype
    order_sensitive: ClassVar[bool] = False  # needs the events in event-time order (see docs/streaming.md)

    def __post_init__(self) -> None:
        unknown = [t for t in self.events if t not in EVERY_EVENT]
        if unknown or not self.events:
            raise ValueError(f"{type(self).__name__}: unknown or no event types {unknown}")
        for p in self.params:
            if getattr(self, p) < 1:
                raise ValueError(f"{type(self).__name__}.{p} must be positive")
        if not list(self.outputs()):
            raise ValueError(f"{type(self).__name__} stores no feature")

    def outputs(self) -> Iterator[Output]:
        for facet, dtype in self.facets.items():
            name = getattr(self, facet)
            if name is not None:
                yield Output(facet, name, dtype, self.describe(facet))

    def describe(self, facet: str) -> str:
        raise NotImplementedError

    @property
    def event_type_numbers(self) -> tuple[int, ...]:
        return tuple(EventType.Value(t) for t in self.events)

    def _of(self) -> str:
        return "events" if self.events == EVERY_EVENT else "/".join(self.events) + " events"

    def param_values(self) -> dict[str, int]:
        return {p: int(getattr(self, p)) for p in self.params}


@dataclass(frozen=True)
class LastN(Aggregation):
    """The ``n`` newest events, newest first: their item ids and/or their times."""

    n: int = 20
    item_ids: str | None = None
    times_ms: str | None = None
    kind: ClassVar[str] = "last_n"
    params: ClassVar[tuple[str, ...]] = ("n",)
    facets: ClassVar[dict[str, str]] = {"item_ids": "Array(String)", "times_ms": "Array(Int64)"}

    def describe(self, facet: str) -> str:
        what = "item ids" if facet == "item_ids" else "event times (ms)"
        return f"{what} of the last {self.n} {self._of()}, newest first"


@dataclass(frozen=True)
class DistinctLastN(Aggregation):
    """Distinct item ids ordered by each item's newest event, newest first, at most ``n``."""

    n: int = 50
    item_ids: str | None = None
    kind: ClassVar[str] = "distinct_last_n"
    params: ClassVar[tuple[str, ...]] = ("n",)
    facets: ClassVar[dict[str, str]] = {"item_ids": "Array(String)"}

    def describe(self, facet: str) -> str:
        return f"distinct items of {self._of()}, newest first, at most {self.n}"


@dataclass(frozen=True)
class Session(Aggregation):
    """The current session: the events since the last gap of more than ``gap_ms`` between consecutive events.
    Outputs its start (time of its first event; 0 without events), its newest ``max_items`` item ids in event order
    and the mean genre vector of all its items (zeros without events). The cap bounds the state and the online row
    of a user who never pauses for ``gap_ms`` (the soak found that row growing without end)."""

    gap_ms: int = 30 * MINUTE_MS
    max_items: int = 50
    start_ms: str | None = None
    item_ids: str | None = None
    genre_mean: str | None = None
    kind: ClassVar[str] = "session"
    params: ClassVar[tuple[str, ...]] = ("gap_ms", "max_items")
    facets: ClassVar[dict[str, str]] = {
        "start_ms": "Int64",
        "item_ids": "Array(String)",
        "genre_mean": "Array(Float32)",
    }
    order_sensitive: ClassVar[bool] = True

    def describe(self, facet: str) -> str:
        session = f"the current session ({self._of()} since the last gap > {self.gap_ms} ms)"
        return {
            "start_ms": f"start of {session}",
            "item_ids": f"newest {self.max_items} items of {session}, in order",
            "genre_mean": f"mean genre vector of {session}",
        }[facet]


@dataclass(frozen=True)
class DecayedGenreSum(Aggregation):
    """Σ genre vector(item) · 2^-(T − t)/``half_life_ms``, normalised to sum 1 (zeros without events)."""

    half_life_ms: int = 3 * DAY_MS
    shares: str | None = None
    kind: ClassVar[str] = "decayed_genre_sum"
    params: ClassVar[tuple[str, ...]] = ("half_life_ms",)
    facets: ClassVar[dict[str, str]] = {"shares": "Array(Float32)"}

    def describe(self, facet: str) -> str:
        return f"genre mix of {self._of()} decayed with half-life {self.half_life_ms} ms, sums to 1"


@dataclass(frozen=True)
class CountByType(Aggregation):
    """Events per type with time in (T − ``window_ms``, T]; index = ``EventType`` number."""

    window_ms: int = HOUR_MS
    counts: str | None = None
    kind: ClassVar[str] = "count_by_type"
    params: ClassVar[tuple[str, ...]] = ("window_ms",)
    facets: ClassVar[dict[str, str]] = {"counts": "Array(Int64)"}

    def describe(self, facet: str) -> str:
        return f"{self._of()} per EventType number over the {self.window_ms} ms up to the newest"


@dataclass(frozen=True)
class Last(Aggregation):
    """T, the time of the newest event (0 without events)."""

    time_ms: str | None = None
    kind: ClassVar[str] = "last"
    facets: ClassVar[dict[str, str]] = {"time_ms": "Int64"}

    def describe(self, facet: str) -> str:
        return f"event time (ms) of the newest {self._of()[:-1]}"


@dataclass(frozen=True)
class DecayedCount(Aggregation):
    """Σ 2^-(T − t)/``half_life_ms`` over the events, and T (readers decay the value from T to their own now)."""

    half_life_ms: int = 6 * HOUR_MS
    value: str | None = None
    at_ms: str | None = None
    kind: ClassVar[str] = "decayed_count"
    params: ClassVar[tuple[str, ...]] = ("half_life_ms",)
    facets: ClassVar[dict[str, str]] = {"value": "Float64", "at_ms": "Int64"}

    def describe(self, facet: str) -> str:
        if facet == "at_ms":
            return f"event time (ms) of the newest {self._of()[:-1]}, the time {self.value or 'the count'} is at"
        return f"count of {self._of()} decayed with half-life {self.half_life_ms} ms to the newest one"


@dataclass(frozen=True)
class Trending(Aggregation):
    """Hopping windows of ``window_ms`` every ``slide_ms``; the current window ends at ``e = min(end(max(T, W)),
    end(T) + window_ms)`` where ``end(x)`` is the first slide boundary after ``x`` and ``W`` the watermark (event time
    up to which the stream is complete): the count of events in ``[e − window_ms, e)`` and ``e``. It rises on arrival
    (an early firing of the window) and falls as the watermark passes slide boundaries, to 0 one window after the
    newest event."""

    window_ms: int = HOUR_MS
    slide_ms: int = 5 * MINUTE_MS
    count: str | None = None
    window_end_ms: str | None = None
    kind: ClassVar[str] = "trending"
    params: ClassVar[tuple[str, ...]] = ("window_ms", "slide_ms")
    facets: ClassVar[dict[str, str]] = {"count": "Int64", "window_end_ms": "Int64"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window_ms % self.slide_ms:
            raise ValueError("Trending.window_ms must be a multiple of slide_ms")

    def describe(self, facet: str) -> str:
        window = f"the current {self.window_ms} ms window (slide {self.slide_ms} ms)"
        return f"{self._of()} in {window}" if facet == "count" else f"end of {window}"


@dataclass(frozen=True)
class FreshView:
    """One Feast view of fresh features: an entity (its join key) and the aggregations stored in it."""

    name: str
    join_key: str
    ttl: timedelta
    aggregations: tuple[Aggregation, ...]

    def __post_init__(self) -> None:
        names = [o.name for o in self.outputs()]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a feature name is used twice in {names}")

    def outputs(self) -> Iterator[Output]:
        for agg in self.aggregations:
            yield from agg.outputs()

    @property
    def order_sensitive(self) -> bool:
        return any(a.order_sensitive for a in self.aggregations)

    @property
    def event_type_numbers(self) -> tuple[int, ...]:
        """Event types that reach this view's entity (any aggregation's)."""
        return tuple(sorted({t for a in self.aggregations for t in a.event_type_numbers}))

    def one(self, kind: type[Aggregation]) -> Aggregation:
        """The view's only aggregation of ``kind`` (readers that need its parameters, e.g. the session gap)."""
        found = [a for a in self.aggregations if isinstance(a, kind)]
        if len(found) != 1:
            raise LookupError(f"{self.name} has {len(found)} {kind.__name__} aggregations, expected one")
        return found[0]


USER_FRESH = FreshView(
    name=USER_FRESH_VIEW,
    join_key="user_id",
    ttl=timedelta(days=7),
    aggregations=(
        LastN(ENGAGEMENT, n=20, item_ids="recent_items", times_ms="recent_item_times_ms"),
        Session(
            ENGAGEMENT,
            gap_ms=30 * MINUTE_MS,
            max_items=50,
            start_ms="session_start_ms",
            item_ids="session_items",
            genre_mean="session_genres",
        ),
        DecayedGenreSum(ENGAGEMENT, half_life_ms=3 * DAY_MS, shares="taste_genres"),
        CountByType(EVERY_EVENT, window_ms=HOUR_MS, counts="counts_1h"),
        CountByType(EVERY_EVENT, window_ms=DAY_MS, counts="counts_1d"),
        Last(EVERY_EVENT, time_ms="last_event_ms"),
        DistinctLastN(("HIDE",), n=50, item_ids="hidden_items"),
        # what serving's seen-filter adds to the batch history: every item engaged with since, not only the last 20
        DistinctLastN(ENGAGEMENT, n=200, item_ids="engaged_items"),
    ),
)

ITEM_FRESH = FreshView(
    name=ITEM_FRESH_VIEW,
    join_key="item_id",
    # Feast's view TTL (materialisation and offline retrieval windows), not a key expiry: the online store sets no
    # ``key_ttl_seconds``, so an idle item's hash stays and its recent popularity (half-lives up to 365 days) keeps
    # decaying at read time. Setting a key expiry would drop the recent popularity of every item idle that long.
    ttl=timedelta(days=2),
    aggregations=(
        Trending(
            ENGAGEMENT,
            window_ms=HOUR_MS,
            slide_ms=5 * MINUTE_MS,
            count="trending_1h",
            window_end_ms="trending_window_end_ms",
        ),
        DecayedCount(ENGAGEMENT, half_life_ms=6 * HOUR_MS, value="decayed_popularity", at_ms="last_event_ms"),
        # FOR_YOU's recent-popularity part: what everyone engaged with over the last weeks. One half-life in stream
        # time cannot suit every event rate: offline (benchmarks/ensemble_quality.py --served) ML-100K's ensemble was
        # best at 7 days, ml-latest-small's at 365; 30 days costs each about 0.002-0.007 NDCG@10 (docs/benchmarks.md).
        # So the count is kept at three half-lives and each model version's batch chooses one on its validation cut
        # (hybridrec.prior_choice); ``popularity_recent`` (30 days) is the one used without a choice. Their time is
        # ``last_event_ms`` above (the same events).
        DecayedCount(ENGAGEMENT, half_life_ms=30 * DAY_MS, value="popularity_recent"),
        DecayedCount(ENGAGEMENT, half_life_ms=7 * DAY_MS, value="popularity_recent_7d"),
        DecayedCount(ENGAGEMENT, half_life_ms=365 * DAY_MS, value="popularity_recent_365d"),
    ),
)

VIEWS: tuple[FreshView, ...] = (USER_FRESH, ITEM_FRESH)


def view(name: str) -> FreshView:
    return next(v for v in VIEWS if v.name == name)


def session_gap_ms() -> int:
    """The user session's gap: serving and training call a session open while the user's newest event is younger."""
    return USER_FRESH.one(Session).gap_ms  # type: ignore[attr-defined, no-any-return]


def half_life_ms(value: str) -> int:
    """The half-life of the item view's decayed count stored as ``value``; serving decays it to the stream's time."""
    found = [a for a in ITEM_FRESH.aggregations if isinstance(a, DecayedCount) and a.value == value]
    if len(found) != 1:
        raise LookupError(f"{ITEM_FRESH.name} has {len(found)} decayed counts stored as {value!r}, expected one")
    return found[0].half_life_ms


def popularity_half_life_ms() -> int:
    """The half-life ``decayed_popularity`` is computed with (the no-model popularity lists)."""
    return half_life_ms("decayed_popularity")


def recent_popularity_half_life_ms() -> int:
    """The half-life ``popularity_recent`` is computed with (FOR_YOU's recent-popularity part without a version's
    choice)."""
    return half_life_ms("popularity_recent")


RECENT_POPULARITY = "popularity_recent"


def recent_popularity_values() -> dict[int, str]:
    """Every half-life (ms) FOR_YOU's recent popularity is kept at → the feature it is stored as."""
    return {
        a.half_life_ms: a.value
        for a in ITEM_FRESH.aggregations
        if isinstance(a, DecayedCount) and a.value is not None and a.value.startswith(RECENT_POPULARITY)
    }
