"""The next-item replay protocol, as pure functions over event tables: how a stream is cut, which events are
targets, where a replay must pause, and what a user's fresh state must be at a pause.

Protocol. Events sorted by time are cut at ``history_fraction``: the history is what the batch layer trains
on, the rest is the *live period*, streamed in time order. Every live engagement whose item the history
knows (some user engaged with it before the cut) and which the user had not engaged with before is a
*target*: the next item to predict, from the state just before it (the user's events strictly earlier in
time, history and live). Only the first ``max_per_user`` targets of each user count, so a few heavy users
do not make the average. *Returning* users engaged in the history (the batch layer knows them); *new* users
first engage after the cut (cold for the batch layer, which is where fresh features matter most).

Pauses. An event-time job cannot go back in time, so the live period is streamed forwards once and paused
only where a target's user holds exactly the events before the target: a pause at time ``P`` (every live
event earlier than ``P`` streamed, none later) serves a target at ``T >= P`` when the user has no event in
``[P, T)``. Each target is an interval (previous event of its user, ``T``]; the fewest pauses that serve
them all are found by the classic greedy stabbing of intervals sorted by their right end.

The nightly gate (``batch/``) selects its validation targets with :func:`select_targets` too, so the gate
and the harness score the same kind of case with the same metric code (``hybridrec.metrics``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybridrec.fresh_features import ENGAGEMENT

ENGAGEMENT_TYPES = ENGAGEMENT
"""Event types that are engagement, as declared once in ``hybridrec.fresh_features``: what the speed layer's
recent items hold and what the batch layer trains on (``eval.positive_event_types``)."""

ORDER = [("event_time_ms", "ascending"), ("event_id", "ascending")]
"""Stream order: by time, ties by event id (deterministic; the order the replay produces in)."""


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


@dataclass(frozen=True)
class Cut:
    """A stream cut in time: ``history`` (what the batch layer trains on) and the ``live`` period after it."""

    history: pa.Table  # stream order
    live: pa.Table  # stream order
    split_ms: int  # time of the first live event

    @property
    def as_of(self) -> date:
        """Day of the last history event: the batch run's ``--as-of``."""
        return day_of(int(self.history.column("event_time_ms")[-1].as_py()))

    @property
    def window_days(self) -> int:
        """Batch window that covers the whole history."""
        return (self.as_of - day_of(int(self.history.column("event_time_ms")[0].as_py()))).days + 1


def cut(events: pa.Table, history_fraction: float) -> Cut:
    """The first ``history_fraction`` of ``events`` by time; events of one millisecond stay on one side."""
    if not 0.0 < history_fraction < 1.0:
        raise ValueError(f"history_fraction must lie in (0, 1), got {history_fraction}")
    if events.num_rows < 2:
        raise ValueError(f"need at least 2 events to cut, got {events.num_rows}")
    events = events.sort_by(ORDER)
    times = events.column("event_time_ms").to_numpy()
    n = max(1, int(len(times) * history_fraction))
    n = int(np.searchsorted(times, times[n - 1], side="right"))  # the cut's millisecond stays in the history
    if n >= len(times):
        raise ValueError("the cut leaves no live period (too few distinct event times)")
    return Cut(events.slice(0, n), events.slice(n), int(times[n]))


@dataclass(frozen=True)
class Target:
    """One next item to predict."""

    position: int  # row of the live table (stream order)
    user_id: str
    item_id: str
    time_ms: int
    returning: bool  # the user engaged in the history
    after_ms: int  # the user's previous event (any type) strictly before ``time_ms``; -1 when none


def _columns(table: pa.Table) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    return (
        table.column("user_id").to_pylist(),
        table.column("item_id").to_pylist(),
        table.column("event_time_ms").to_numpy(),
        table.column("event_type").to_pylist(),
    )


def _engaged(table: pa.Table, engagement: Sequence[str]) -> np.ndarray:
    mask = pc.is_in(table.column("event_type"), value_set=pa.array(list(engagement), pa.string()))
    return np.asarray(mask.to_pylist(), dtype=bool)


def select_targets(
    history: pa.Table,
    live: pa.Table,
    *,
    max_per_user: int | None = None,
    engagement: Sequence[str] = ENGAGEMENT_TYPES,
    known_items: set[str] | None = None,
) -> list[Target]:
    """The live period's targets, in stream order (both tables in stream order). ``known_items`` stands in for
    the items the history engaged with, for a caller that passes only some users' history (the nightly gate)."""
    h_users, h_items, _, _ = _columns(history)
    h_engaged = _engaged(history, engagement)
    if known_items is None:
        known_items = {i for i, e in zip(h_items, h_engaged, strict=True) if e}
    seen: dict[str, set[str]] = {}
    for u, i, e in zip(h_users, h_items, h_engaged, strict=True):
        if e:
            seen.setdefault(u, set()).add(i)
    returning = set(seen)
    h_last: dict[str, int] = {}
    for u, t in zip(h_users, history.column("event_time_ms").to_pylist(), strict=True):
        h_last[u] = t  # stream order: the last one is the newest
    users, items, times, _ = _columns(live)
    engaged = _engaged(live, engagement)
    taken: Counter[str] = Counter()
    # previous event per user strictly before each row's time: rows of one millisecond share it
    last_before: dict[str, tuple[int, int]] = {}  # user → (time of newest event, time of the one before it)
    targets: list[Target] = []
    for pos, (u, i, t) in enumerate(zip(users, items, times.tolist(), strict=True)):
        newest, before = last_before.get(u, (h_last.get(u, -1), -1))
        prev = newest if newest < t else before
        if (
            engaged[pos]
            and i in known_items
            and i not in seen.get(u, ())
            and (max_per_user is None or taken[u] < max_per_user)
        ):
            targets.append(Target(pos, u, i, t, u in returning, prev))
            taken[u] += 1
        if engaged[pos]:
            seen.setdefault(u, set()).add(i)
        last_before[u] = (t, prev) if newest < t else (newest, before)
    return targets


@dataclass(frozen=True)
class Pause:
    """Stream every live event earlier than ``time_ms`` (rows ``[0, position)``), move the watermark to
    ``watermark_ms``, wait for the users' state, then ask for ``targets``."""

    time_ms: int
    position: int
    targets: tuple[Target, ...]
    watermark_ms: int  # time of the clock event: every event of a target's user before it is at or before this


def plan_pauses(live_times: np.ndarray, targets: Iterable[Target]) -> list[Pause]:
    """The fewest pauses at which every target's user holds exactly the events before the target.

    A pause at ``P`` serves every target whose user's previous event is before ``P`` and whose own time is at or
    after it: the speed layer folds each event in on arrival, so the state at ``P`` is every event before ``P``."""
    spans = []
    for t in targets:
        start = t.after_ms + 1 if t.after_ms >= 0 else t.after_ms
        spans.append((min(start, t.time_ms), t))
    spans.sort(key=lambda s: (s[1].time_ms, s[1].position))
    groups: list[tuple[int, list[Target]]] = []
    for start, t in spans:
        if groups and start <= groups[-1][0]:
            groups[-1][1].append(t)
        else:
            groups.append((t.time_ms, [t]))
    return [Pause(at, int(np.searchsorted(live_times, at, side="left")), tuple(ts), at - 1) for at, ts in groups]


@dataclass(frozen=True)
class UserState:
    """A user's fresh state as the speed layer should hold it: its newest event and recent engagements."""

    last_event_ms: int | None = None
    recent_items: tuple[str, ...] = ()  # newest first
    recent_times: tuple[int, ...] = ()
    full: bool = False  # the window of recent items is full (older engagements exist)


def state_matches(got: UserState, want: UserState) -> bool:
    """Whether ``got`` holds exactly ``want``. Events of one millisecond may be held in either order, and when
    the window is full the oldest millisecond may be cut at any of its events."""
    if got.last_event_ms != want.last_event_ms or got.recent_times != want.recent_times:
        return False
    oldest = want.recent_times[-1] if want.recent_times else None

    def groups(s: UserState) -> dict[int, Counter[str]]:
        out: dict[int, Counter[str]] = {}
        for i, t in zip(s.recent_items, s.recent_times, strict=True):
            if not (want.full and t == oldest):
                out.setdefault(t, Counter())[i] += 1
        return out

    return groups(got) == groups(want)


@dataclass
class _UserEvents:
    times: list[int] = field(default_factory=list)
    engaged_times: list[int] = field(default_factory=list)
    engaged_items: list[str] = field(default_factory=list)


class Timeline:
    """Every user's events (history and live) in stream order: the ground truth a replay is checked against
    and what offline methods are fed with, as of any time."""

    def __init__(self, tables: Sequence[pa.Table], engagement: Sequence[str] = ENGAGEMENT_TYPES) -> None:
        self._users: dict[str, _UserEvents] = {}
        for table in tables:
            users, items, times, _ = _columns(table)
            engaged = _engaged(table, engagement)
            for u, i, t, e in zip(users, items, times.tolist(), engaged.tolist(), strict=True):
                ev = self._users.setdefault(u, _UserEvents())
                ev.times.append(t)
                if e:
                    ev.engaged_times.append(t)
                    ev.engaged_items.append(i)

    def engaged_before(self, user: str, time_ms: int) -> list[str]:
        """Items the user engaged with strictly before ``time_ms``, oldest first (repeats kept)."""
        ev = self._users.get(user)
        if ev is None:
            return []
        return ev.engaged_items[: bisect.bisect_left(ev.engaged_times, time_ms)]

    def state_before(self, user: str, time_ms: int, recent_n: int) -> UserState:
        ev = self._users.get(user)
        if ev is None:
            return UserState()
        n = bisect.bisect_left(ev.times, time_ms)
        if n == 0:
            return UserState()
        k = bisect.bisect_left(ev.engaged_times, time_ms)
        lo = max(0, k - recent_n)
        return UserState(
            ev.times[n - 1], tuple(reversed(ev.engaged_items[lo:k])), tuple(reversed(ev.engaged_times[lo:k])), lo > 0
        )
