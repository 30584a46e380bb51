"""The from-definition reference (``streaming/reference.py``) on hand-made cases, its comparison helper, and the
speed layer's settings. The JVM operator is held to the reference by test_java_features.py."""

from __future__ import annotations

import pytest

from hybridrec.config import FeaturesConfig, Settings
from hybridrec.contract import genre_vector
from streaming.config import streaming_settings
from streaming.logic import Event
from tests.support.fresh_reference import mismatches, reference_features

SETTINGS = streaming_settings(Settings(), recent_n=5, hidden_n=3, session_gap_ms=600_000)
CFG = SETTINGS.streaming


def genres(item: str) -> list[float]:
    return genre_vector({"i0": ("Action", "Drama"), "i1": ("Comedy",)}.get(item, ()))


def test_session_splits_on_gap_and_counts_window() -> None:
    base = 1_700_000_000_000
    evs = [Event(base, "a", "i0", 2), Event(base + 60_000, "b", "i1", 3),
           Event(base + 60_000 + CFG.session_gap_ms + 1, "c", "i2", 2), Event(base + 7_300_000, "d", "i2", 1)]
    users, items = reference_features([("u", e) for e in evs], SETTINGS, genres)
    got = users["u"]
    assert got["session_items"] == ["i2"]
    assert got["session_start_ms"] == base + 60_000 + CFG.session_gap_ms + 1
    assert got["recent_items"] == ["i2", "i1", "i0"]
    # counts_1h covers (last - 1h, last]: only the impression, not the earlier plays and click.
    assert got["counts_1h"][1] == 1 and got["counts_1h"][2] == 0
    assert got["counts_1d"][2] == 2 and got["counts_1d"][3] == 1
    assert got["last_event_ms"] == base + 7_300_000
    assert sum(got["taste_genres"]) == pytest.approx(1.0)
    assert items["i2"]["decayed_popularity"] == pytest.approx(1.0)  # one engagement (the impression is not)


def test_hidden_items_distinct_newest_first_bounded() -> None:
    base = 1_700_000_000_000
    hides = [Event(base + k * 1000, f"h{k}", item, 7) for k, item in enumerate(["a", "b", "a", "c", "d"])]
    expected, _ = reference_features([("u", e) for e in hides], SETTINGS, genres)
    assert expected["u"]["hidden_items"] == ["d", "c", "a"]


def test_popularity_decays_with_the_shared_half_life() -> None:
    """decayed_popularity's half-life is the shared ``features`` setting serving decays with too."""
    base = 1_700_000_000_000
    plays = [("u", Event(base, "a", "i0", 2)), ("u", Event(base + 3_600_000, "b", "i0", 2))]
    for half_life, expected in ((3_600_000, 1.5), (1_800_000, 1.25)):
        s = SETTINGS.model_copy(update={"features": FeaturesConfig(popularity_half_life_ms=half_life)})
        _, items = reference_features(plays, s, genres)
        assert items["i0"]["decayed_popularity"] == pytest.approx(expected)


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
