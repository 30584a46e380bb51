"""The from-definition reference (``tests/support/fresh_reference.py``) on hand-made cases, and the declarations of
``hybridrec/fresh_features.py`` it reads. The JVM core is held to the reference by test_java_features.py."""

from __future__ import annotations

import dataclasses

import pytest

from hybridrec import fresh_features as ff
from hybridrec.config import Settings
from hybridrec.contract import genre_vector
from streaming.config import streaming_settings
from tests.support.fresh_reference import Event, accepted, mismatches, view_features

USER = ff.USER_FRESH
ITEM = ff.ITEM_FRESH
GAP = ff.session_gap_ms()
BASE = 1_700_000_000_000


def genres(item: str) -> list[float]:
    return genre_vector({"i0": ("Action", "Drama"), "i1": ("Comedy",)}.get(item, ()))


def test_session_splits_on_a_gap_longer_than_the_declared_one_and_counts_window() -> None:
    evs = [
        Event(BASE, "a", "i0", 2),
        Event(BASE + 60_000, "b", "i1", 3),
        Event(BASE + 60_000 + GAP + 1, "c", "i2", 2),
        Event(BASE + 60_000 + 2 * GAP + 1, "d", "i3", 2),
        Event(BASE + 60_000 + 2 * GAP + 1 + 1_800_000, "e", "i2", 1),
    ]
    got = view_features(USER, evs, genres)
    # c starts a session (gap + 1 ms); d comes exactly one gap after c, so it stays in it
    assert got["session_items"] == ["i2", "i3"]
    assert got["session_start_ms"] == BASE + 60_000 + GAP + 1
    assert got["recent_items"] == ["i3", "i2", "i1", "i0"]
    # counts_1h covers (last - 1h, last]: the impression and d (c is exactly 1 h before the last: out)
    assert got["counts_1h"][1] == 1 and got["counts_1h"][2] == 1 and got["counts_1h"][3] == 0
    assert got["counts_1d"][2] == 3 and got["counts_1d"][3] == 1
    assert got["last_event_ms"] == BASE + 60_000 + 2 * GAP + 1 + 1_800_000
    assert sum(got["taste_genres"]) == pytest.approx(1.0)


def test_hidden_items_distinct_newest_first_bounded() -> None:
    small = dataclasses.replace(
        USER,
        aggregations=tuple(
            dataclasses.replace(a, n=3) if isinstance(a, ff.DistinctLastN) else a for a in USER.aggregations
        ),
    )
    hides = [Event(BASE + k * 1000, f"h{k}", item, 7) for k, item in enumerate(["a", "b", "a", "c", "d"])]
    assert view_features(small, hides, genres)["hidden_items"] == ["d", "c", "a"]


def test_item_popularity_decays_with_the_declared_half_life_and_trending_moves_with_the_watermark() -> None:
    half_life = ff.popularity_half_life_ms()
    plays = [Event(BASE, "a", "i0", 2), Event(BASE + half_life, "b", "i0", 2), Event(BASE + 10, "c", "i0", 1)]
    got = view_features(ITEM, [e for e in plays if e.event_type in ITEM.event_type_numbers], genres)
    assert got["decayed_popularity"] == pytest.approx(1.5)
    assert got["last_event_ms"] == BASE + half_life
    trending = ITEM.one(ff.Trending)
    slide, window = trending.slide_ms, trending.window_ms  # type: ignore[attr-defined]
    t0 = BASE - BASE % slide
    evs = [Event(t0 + 5, "a", "i0", 2), Event(t0 + slide + 5, "b", "i0", 2)]
    assert view_features(ITEM, evs, genres)["trending_1h"] == 2
    assert view_features(ITEM, evs, genres)["trending_window_end_ms"] == t0 + 2 * slide
    later = view_features(ITEM, evs, genres, watermark_ms=t0 + window)
    assert (later["trending_1h"], later["trending_window_end_ms"]) == (1, t0 + window + slide)
    gone = view_features(ITEM, evs, genres, watermark_ms=t0 + 10 * window)
    assert (gone["trending_1h"], gone["trending_window_end_ms"]) == (0, t0 + 2 * slide + window)


def test_lateness_is_relative_to_the_entity_s_own_newest_event() -> None:
    a, b, c = Event(BASE, "a", "i0", 2), Event(BASE + 3_000, "b", "i0", 2), Event(BASE + 1_000, "c", "i0", 2)
    assert accepted([a, b, c], allowed_lateness_ms=2_000, max_buffered=10) == [a, b, c]  # 2 s behind b: in
    assert accepted([a, b, c], allowed_lateness_ms=1_000, max_buffered=10) == [a, b]  # too late
    # a buffer of one: a left it when b came, so an event older than a is late however close it is
    older = Event(BASE - 500, "o", "i0", 2)
    assert accepted([a, b, older], allowed_lateness_ms=60_000, max_buffered=1) == [a, b]
    assert accepted([a, b, c], allowed_lateness_ms=60_000, max_buffered=1) == [a, b, c]
    assert accepted([b, older], allowed_lateness_ms=60_000, max_buffered=1) == [b, older]


def test_views_are_valid_declarations() -> None:
    names = [o.name for o in USER.outputs()]
    assert names[:2] == ["recent_items", "recent_item_times_ms"] and "hidden_items" in names
    assert USER.order_sensitive and not ITEM.order_sensitive
    assert set(ITEM.event_type_numbers) == {ff.EventType.Value(t) for t in ff.ENGAGEMENT}
    with pytest.raises(ValueError):
        ff.LastN(("PLAY",), n=0, item_ids="x")
    with pytest.raises(ValueError):
        ff.LastN(("NOPE",), n=3, item_ids="x")
    with pytest.raises(ValueError):
        ff.Trending(ff.ENGAGEMENT, window_ms=1_000, slide_ms=300, count="x")
    with pytest.raises(ValueError):
        ff.FreshView("v", "user_id", USER.ttl, (ff.Last(("PLAY",), time_ms="t"), ff.Last(("HIDE",), time_ms="t")))


def test_mismatches_notices_differences() -> None:
    assert mismatches({"a": [1.0, 2.0], "b": "x"}, {"a": [1.0, 2.0 + 1e-12], "b": "x"}) == []
    assert len(mismatches({"a": [1.0, 2.1], "b": "x"}, {"a": [1.0, 2.0], "b": "y"})) == 2
    assert mismatches({"a": [1]}, {"a": [1, 2]}) != []


def test_streaming_settings_build_on_shared_settings() -> None:
    from streaming.config import StreamingSettings

    base = Settings(streaming={"flush_interval_ms": 7})
    s = streaming_settings(base, parallelism=2)
    assert isinstance(s, StreamingSettings)
    assert (s.streaming.flush_interval_ms, s.streaming.parallelism) == (7, 2)
    assert streaming_settings(s, bounded=True).streaming.flush_interval_ms == 7
    with pytest.raises(ValueError):
        streaming_settings(base, start_empty=True, restore_from="/tmp/x")
    with pytest.raises(ValueError):  # a feature definition is not a knob of the job
        streaming_settings(base, recent_n=5)
