"""The fresh features computed from a whole event list, straight from their definitions in
``hybridrec/fresh_features.py``: the reference the JVM operator and the job are held to.

Deliberately written differently from the JVM's incremental state (``EntityState`` and the aggregation kinds of
``streaming/java``: one event at a time, in arrival order), with whole-list passes over the events in event-time
order, so that a test comparing the two checks the definitions and not one implementation against itself. The one
rule that depends on arrival order, which events are too late for their entity, is :func:`accepted` (a direct
transcription of the documented rule); only the events it accepts are folded in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hybridrec.contract import GENRES
from hybridrec.fresh_features import (
    N_EVENT_TYPES,
    VIEWS,
    Aggregation,
    CountByType,
    DecayedCount,
    DecayedGenreSum,
    DistinctLastN,
    FreshView,
    Last,
    LastN,
    Session,
    Trending,
)

N_GENRES = len(GENRES)
GenreLookup = Callable[[str], list[float]]


@dataclass(frozen=True, order=True)
class Event:
    """The fields of an interaction the features read; ordering is event-time order, ties by event id."""

    event_time_ms: int
    event_id: str
    item_id: str
    event_type: int
    user_id: str = ""


def accepted(arrivals: Sequence[Event], allowed_lateness_ms: int, max_buffered: int) -> list[Event]:
    """The events of one entity (of an order-sensitive view) that are folded in, given their arrival order: an
    event is late when it is more than ``allowed_lateness_ms`` behind the newest event accepted before it, or not
    newer than the newest event that left the kept buffer (events leave it once they are that far behind the newest,
    or when more than ``max_buffered`` are kept)."""
    out: list[Event] = []
    newest: Event | None = None
    horizon: Event | None = None
    buffer: list[Event] = []
    for e in arrivals:
        if newest is not None and (
            e.event_time_ms < newest.event_time_ms - allowed_lateness_ms or (horizon is not None and e <= horizon)
        ):
            continue
        out.append(e)
        buffer = sorted([*buffer, e])
        newest = max(newest, e) if newest is not None else e
        while buffer and (
            buffer[0].event_time_ms < newest.event_time_ms - allowed_lateness_ms or len(buffer) > max_buffered
        ):
            horizon = buffer.pop(0)
    return out


def _decay(t: int, at_ms: int, half_life_ms: int) -> float:
    return float(2.0 ** (-(at_ms - t) / half_life_ms))


def _end(t: int, slide_ms: int) -> int:
    return t - t % slide_ms + slide_ms


def aggregate(
    agg: Aggregation, events: list[Event], genres: GenreLookup, watermark_ms: int | None
) -> dict[str, object]:
    """The outputs of one aggregation (facet → value) over one entity's ``events`` (any order)."""
    mine = sorted(e for e in events if e.event_type in agg.event_type_numbers)
    newest_first = list(reversed(mine))
    t_last = mine[-1].event_time_ms if mine else 0
    if isinstance(agg, LastN):
        top = newest_first[: agg.n]
        return {"item_ids": [e.item_id for e in top], "times_ms": [e.event_time_ms for e in top]}
    if isinstance(agg, DistinctLastN):
        items: list[str] = []
        for e in newest_first:
            if e.item_id not in items:
                items.append(e.item_id)
        return {"item_ids": items[: agg.n]}
    if isinstance(agg, Session):
        session: list[Event] = []
        for i, e in enumerate(mine):
            if i == 0 or e.event_time_ms - mine[i - 1].event_time_ms > agg.gap_ms:
                session = []
            session.append(e)
        mean = (
            [sum(genres(e.item_id)[g] for e in session) / len(session) for g in range(N_GENRES)]
            if session
            else [0.0] * N_GENRES
        )
        return {
            "start_ms": session[0].event_time_ms if session else 0,
            "item_ids": [e.item_id for e in session][-agg.max_items :],
            "genre_mean": mean,
        }
    if isinstance(agg, DecayedGenreSum):
        sums = [
            sum(_decay(e.event_time_ms, t_last, agg.half_life_ms) * genres(e.item_id)[g] for e in mine)
            for g in range(N_GENRES)
        ]
        total = sum(sums)
        return {"shares": [v / total for v in sums] if total > 0 else [0.0] * N_GENRES}
    if isinstance(agg, CountByType):
        counts = [0] * N_EVENT_TYPES
        for e in mine:
            if t_last - agg.window_ms < e.event_time_ms <= t_last:
                counts[e.event_type] += 1
        return {"counts": counts}
    if isinstance(agg, Last):
        return {"time_ms": t_last}
    if isinstance(agg, DecayedCount):
        return {"value": sum(_decay(e.event_time_ms, t_last, agg.half_life_ms) for e in mine), "at_ms": t_last}
    if isinstance(agg, Trending):
        if not mine:
            return {"count": 0, "window_end_ms": 0}
        first = _end(t_last, agg.slide_ms)
        end = (
            first if watermark_ms is None else min(_end(max(t_last, watermark_ms), agg.slide_ms), first + agg.window_ms)
        )
        return {"count": sum(1 for e in mine if end - agg.window_ms <= e.event_time_ms < end), "window_end_ms": end}
    raise TypeError(f"no reference for {type(agg).__name__}")


def view_features(
    view: FreshView, events: list[Event], genres: GenreLookup, watermark_ms: int | None = None
) -> dict[str, object]:
    """Every feature of ``view`` for one entity after ``events``; ``watermark_ms`` None: no watermark yet, the
    largest possible int: the end of a bounded input (every trending window has moved on)."""
    out: dict[str, object] = {}
    for agg in view.aggregations:
        values = aggregate(agg, events, genres, watermark_ms)
        out.update({o.name: values[o.facet] for o in agg.outputs()})
    return out


END_OF_INPUT = 2**62
"""The watermark after a bounded input (Flink's is Long.MAX_VALUE; any time past every window will do)."""


def reference_features(
    events: Iterable[tuple[str, Event]],
    genres: GenreLookup,
    *,
    allowed_lateness_ms: int,
    max_buffered: int,
    watermark_ms: int | None = END_OF_INPUT,
    views: Sequence[FreshView] = VIEWS,
) -> dict[str, dict[str, dict[str, object]]]:
    """view name → entity → features, for ``(user_id, event)`` pairs in arrival order (events too late for an
    order-sensitive view are left out of it, as the job leaves them)."""
    arrivals = [(u, e) for u, e in events]
    out: dict[str, dict[str, dict[str, object]]] = {}
    for view in views:
        by_entity: dict[str, list[Event]] = {}
        types = set(view.event_type_numbers)
        for user, e in arrivals:
            if e.event_type in types:
                by_entity.setdefault(user if view.join_key == "user_id" else e.item_id, []).append(e)
        if view.order_sensitive:
            by_entity = {k: accepted(v, allowed_lateness_ms, max_buffered) for k, v in by_entity.items()}
        out[view.name] = {k: view_features(view, v, genres, watermark_ms) for k, v in by_entity.items()}
    return out


def mismatches(got: dict[str, object], expected: dict[str, object], rel: float = 1e-6) -> list[str]:
    """Names of features that differ: floats (and lists of floats) within ``rel``, everything else exact."""

    def close(a: object, b: object) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return (
                isinstance(a, int | float)
                and isinstance(b, int | float)
                and abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)
            )
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    return [f"{k}: got {got.get(k)!r}, expected {v!r}" for k, v in expected.items() if not close(got.get(k), v)]
