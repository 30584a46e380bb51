"""Reading users' fresh state through the feature store, as serving sees it: what a replay waits on and checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridrec.contract import USER_FRESH_VIEW
from hybridrec.nextitem import UserState

FIELDS = ("last_event_ms", "recent_items", "recent_item_times_ms")


def open_store(settings: Any) -> Any:
    from hybridrec.feature_store import open_store as _open

    return _open(settings)


def read_states(store: Any, users: Sequence[str], chunk: int = 500) -> dict[str, UserState]:
    """Each user's ``user_fresh`` newest event and recent items (an empty state when the store has none)."""
    out: dict[str, UserState] = {}
    for s in range(0, len(users), chunk):
        part = list(users[s : s + chunk])
        d = store.get_online_features(
            features=[f"{USER_FRESH_VIEW}:{f}" for f in FIELDS], entity_rows=[{"user_id": u} for u in part]
        ).to_dict()
        for u, last, items, times in zip(
            part, d["last_event_ms"], d["recent_items"], d["recent_item_times_ms"], strict=True
        ):
            out[u] = UserState(last, tuple(items or ()), tuple(times or ())) if last is not None else UserState()
    return out
