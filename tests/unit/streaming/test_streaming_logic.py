"""The incremental feature math equals the from-definition reference, fed in micro-windows as the job does."""

from __future__ import annotations

import marshal
import random

import pytest

from hybridrec.contract import genre_vector
from streaming.config import StreamingConfig
from streaming.logic import (
    Event,
    ItemState,
    UserParams,
    UserState,
    add_item_events,
    apply_user_events,
    item_features,
    set_item_trending,
    user_features,
)
from streaming.reference import mismatches, reference_features

CFG = StreamingConfig(recent_n=5, hidden_n=3, session_gap_ms=600_000, trending_window_ms=3_600_000,
                      trending_slide_ms=300_000)
PARAMS = UserParams(CFG.recent_n, CFG.session_gap_ms, CFG.taste_half_life_ms, CFG.counts_short_ms,
                    CFG.counts_long_ms, frozenset(CFG.engagement_type_values), CFG.hidden_n)
GENRES = {f"i{k}": genre_vector([["Action", "Drama"], ["Comedy"], []][k % 3]) for k in range(30)}


def genres(item: str) -> list[float]:
    return GENRES.get(item, genre_vector([]))


def random_events(seed: int, n: int = 600) -> list[tuple[str, Event]]:
    rng = random.Random(seed)
    t = 1_700_000_000_000
    out = []
    for k in range(n):
        t += rng.choice([1_000, 30_000, 200_000, 900_000, 4_000_000])
        out.append((f"u{rng.randrange(4)}", Event(t, f"e{k}", f"i{rng.randrange(30)}", rng.randrange(1, 8))))
    return out


def windows_of(events: list[Event], window_ms: int) -> list[list[Event]]:
    """Events grouped by tumbling event-time window, windows in order, events shuffled inside each."""
    groups: dict[int, list[Event]] = {}
    for e in events:
        groups.setdefault(e.event_time_ms // window_ms, []).append(e)
    rng = random.Random(7)
    return [rng.sample(g, len(g)) for _, g in sorted(groups.items())]


def hop_counts(times: list[int]) -> list[tuple[int, int]]:
    """(window_end, count) of every HOP window with events, in firing order, as Flink would emit them."""
    ends: dict[int, int] = {}
    for t in times:
        first_end = t - t % CFG.trending_slide_ms + CFG.trending_slide_ms
        for end in range(first_end, first_end + CFG.trending_window_ms, CFG.trending_slide_ms):
            ends[end] = ends.get(end, 0) + 1
    return sorted(ends.items())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_reference(seed: int) -> None:
    events = random_events(seed)
    exp_users, exp_items = reference_features(events, CFG, genres)

    for user, expected in exp_users.items():
        state = UserState()
        for batch in windows_of([e for u, e in events if u == user], 60_000):
            apply_user_events(state, sorted(batch), PARAMS, genres)
            state = UserState.from_tuple(marshal.loads(marshal.dumps(state.to_tuple())))  # as stored by the job
        got = user_features(state, PARAMS)
        assert got.keys() == expected.keys()
        assert mismatches(got, expected, rel=1e-9) == [], user

    engaged = [e for _, e in events if e.event_type in CFG.engagement_type_values]
    assert exp_items, "no engagement events generated"
    for item, expected in exp_items.items():
        times = [e.event_time_ms for e in engaged if e.item_id == item]
        state = ItemState()
        for batch in windows_of([e for e in engaged if e.item_id == item], 60_000):
            add_item_events(state, [e.event_time_ms for e in batch], CFG.popularity_half_life_ms)
            state = ItemState.from_tuple(marshal.loads(marshal.dumps(state.to_tuple())))
        for end, count in hop_counts(times):
            set_item_trending(state, end, count)
        assert mismatches(item_features(state), expected, rel=1e-9) == [], item


def test_session_splits_on_gap_and_counts_window() -> None:
    base = 1_700_000_000_000
    evs = [Event(base, "a", "i0", 2), Event(base + 60_000, "b", "i1", 3),
           Event(base + 60_000 + CFG.session_gap_ms + 1, "c", "i2", 2), Event(base + 7_300_000, "d", "i2", 1)]
    state = apply_user_events(UserState(), evs, PARAMS, genres)
    got = user_features(state, PARAMS)
    assert got["session_items"] == ["i2"]
    assert got["session_start_ms"] == base + 60_000 + CFG.session_gap_ms + 1
    assert got["recent_items"] == ["i2", "i1", "i0"]
    # counts_1h covers (last - 1h, last]: only the impression, not the earlier plays and click.
    assert got["counts_1h"][1] == 1 and got["counts_1h"][2] == 0
    assert got["counts_1d"][2] == 2 and got["counts_1d"][3] == 1
    assert got["last_event_ms"] == base + 7_300_000
    assert sum(got["taste_genres"]) == pytest.approx(1.0)


def test_hidden_items_distinct_newest_first_bounded() -> None:
    base = 1_700_000_000_000
    hides = [Event(base + k * 1000, f"h{k}", item, 7) for k, item in enumerate(["a", "b", "a", "c", "d"])]
    state = apply_user_events(UserState(), hides[:2], PARAMS, genres)
    apply_user_events(state, [*hides[2:], Event(base + 9000, "p", "e", 2)], PARAMS, genres)
    assert user_features(state, PARAMS)["hidden_items"] == ["d", "c", "a"]
    expected, _ = reference_features([("u", e) for e in hides], CFG, genres)
    assert expected["u"]["hidden_items"] == ["d", "c", "a"]


def test_mismatches_notices_differences() -> None:
    assert mismatches({"a": [1.0, 2.0], "b": "x"}, {"a": [1.0, 2.0 + 1e-12], "b": "x"}) == []
    assert len(mismatches({"a": [1.0, 2.1], "b": "x"}, {"a": [1.0, 2.0], "b": "y"})) == 2
    assert mismatches({"a": [1]}, {"a": [1, 2]}) != []


def test_streaming_settings_build_on_shared_settings() -> None:
    from hybridrec.config import Settings
    from streaming.config import StreamingSettings, streaming_settings

    base = Settings(streaming={"recent_n": 7})
    s = streaming_settings(base, parallelism=2)
    assert isinstance(s, StreamingSettings)
    assert (s.streaming.recent_n, s.streaming.parallelism) == (7, 2)
    assert streaming_settings(s, bounded=True).streaming.recent_n == 7
    with pytest.raises(ValueError):
        streaming_settings(base, trending_window_ms=3_600_000, trending_slide_ms=7_000_000)
