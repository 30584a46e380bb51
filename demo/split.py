"""The temporal split and the next-item protocol of the lambda-gain measurement (pure, no I/O).

Protocol: the first 90 % of events by time are history: they go through Kafka → Flink → archive and the
batch layer trains on them (as of the day of the last one; the archive holds nothing later when it runs).
The rest is the live period. The last live engagement of an evaluation user is the user's *target* (the next
item to predict) and is withheld from the stream; everything else of the live period is streamed. Each mode
ranks items for the user as of the target's time and is scored on where the target lands.

An *evaluation user* has at least ``min_context + 1`` engagement events in the live period. Users the batch
layer has seen (*returning*) and users who first appear after the split (*new*, cold for the batch layer:
the case fresh features exist for) are both kept, and ``Target.returning`` tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybridrec.fresh_features import ENGAGEMENT


@dataclass(frozen=True)
class Target:
    user_id: str
    item_id: str
    event_time_ms: int
    last_context_ms: int  # newest streamed live event of this user: fresh features must reach it
    returning: bool  # the user has history (the batch layer knows them)


@dataclass(frozen=True)
class Split:
    as_of: date  # day of the last history event (the batch run's --as-of)
    split_ms: int  # first millisecond of the live period
    history: pa.Table  # time-ordered
    live: pa.Table  # time-ordered, targets removed
    targets: list[Target]
    first_day: date

    @property
    def window_days(self) -> int:
        """Batch window that covers the whole history."""
        return (self.as_of - self.first_day).days + 1


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def split_events(
    events: pa.Table, *, history_fraction: float = 0.9, min_context: int = 1, max_users: int = 500, seed: int = 7
) -> Split:
    """Cut ``events`` (archive columns) into history and live period and pick the evaluation targets."""
    if events.num_rows < 10:
        raise ValueError(f"need at least 10 events to split, got {events.num_rows}")
    events = events.sort_by([("event_time_ms", "ascending"), ("event_id", "ascending")])
    times = events.column("event_time_ms").to_numpy()
    n_history = int(len(times) * history_fraction)
    while 0 < n_history < len(times) and times[n_history - 1] == times[n_history]:
        n_history += 1  # events of the same millisecond stay on one side
    history, live = events.slice(0, n_history), events.slice(n_history)
    if history.num_rows == 0 or live.num_rows == 0:
        raise ValueError("the split leaves no history or no live period")
    split_ms = int(times[n_history])

    known = set(history.column("user_id").to_pylist())
    engaged = pc.is_in(live.column("event_type"), value_set=pa.array(ENGAGEMENT))
    users = live.column("user_id").to_pylist()
    per_user: dict[str, list[int]] = {}  # engagement rows
    rows_of: dict[str, list[int]] = {}  # every live row of a user
    for row, (user, ok) in enumerate(zip(users, engaged.to_pylist(), strict=True)):
        rows_of.setdefault(user, []).append(row)
        if ok:
            per_user.setdefault(user, []).append(row)
    eligible = sorted(u for u, rows in per_user.items() if len(rows) > min_context)
    rng = np.random.default_rng(seed)
    chosen = (
        sorted(rng.choice(eligible, size=min(max_users, len(eligible)), replace=False).tolist()) if eligible else []
    )

    items, live_times = live.column("item_id").to_pylist(), live.column("event_time_ms").to_numpy()
    drop: list[int] = []
    targets: list[Target] = []
    for user in chosen:
        rows = per_user[user]
        target = rows[-1]
        drop.extend(r for r in rows_of[user] if r >= target)  # the target and anything after it
        context = [r for r in rows_of[user] if r < target]
        targets.append(
            Target(user, items[target], int(live_times[target]), int(live_times[context[-1]]), user in known)
        )
    keep = np.ones(live.num_rows, dtype=bool)
    keep[drop] = False
    return Split(
        as_of=_day(int(times[n_history - 1])),
        split_ms=split_ms,
        history=history,
        live=live.filter(pa.array(keep)),
        targets=targets,
        first_day=_day(int(times[0])),
    )
