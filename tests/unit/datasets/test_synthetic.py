"""The synthetic world: deterministic, globally time-ordered, skewed, session-shaped and memory-bounded."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import Counter, defaultdict
from itertools import islice, pairwise

import pytest

from hybridrec.config import SyntheticConfig
from hybridrec.datasets import EVENT_TYPES, Dataset, Interaction, SyntheticDataset
from hybridrec.datasets.model import DEVICES
from hybridrec.datasets.synthetic import MOVIELENS_GENRES, genre_names


def stream_digest(ds: SyntheticDataset) -> str:
    h = hashlib.sha256()
    for e in ds.interactions():
        h.update(repr(e).encode())
    return h.hexdigest()


def test_same_seed_same_stream() -> None:
    cfg = SyntheticConfig(seed=7)
    a, b = SyntheticDataset(cfg, 200_000), SyntheticDataset(cfg, 200_000)
    assert list(islice(a.interactions(), 50_000)) == list(islice(b.interactions(), 50_000))
    assert stream_digest(a) == stream_digest(b)
    assert list(a.items()) == list(b.items())


def test_different_seed_different_stream() -> None:
    a = list(SyntheticDataset(SyntheticConfig(seed=1), 2_000).interactions())
    b = list(SyntheticDataset(SyntheticConfig(seed=2), 2_000).interactions())
    assert [(e.user_id, e.item_id, e.event_time_ms) for e in a] != [(e.user_id, e.item_id, e.event_time_ms) for e in b]
    assert a[0].event_id == "syn-1-0"
    assert b[-1].event_id == "syn-2-1999"


@pytest.mark.parametrize("n_events", [0, 1, 12_345, 70_001])
def test_exact_count_time_order_and_unique_ids(n_events: int) -> None:
    ds = SyntheticDataset(SyntheticConfig(), n_events)
    assert isinstance(ds, Dataset)
    assert ds.count_hint == n_events
    events = list(ds.interactions())
    assert len(events) == n_events
    assert all(a.event_time_ms <= b.event_time_ms for a, b in pairwise(events))
    assert len({e.event_id for e in events}) == n_events
    if events:
        assert events[0].event_time_ms >= SyntheticConfig().start_time_ms


def test_shorter_stream_is_a_prefix_of_a_longer_one() -> None:
    cfg = SyntheticConfig(seed=3)
    short = list(SyntheticDataset(cfg, 40_000).interactions())
    long = list(islice(SyntheticDataset(cfg, 100_000).interactions(), 40_000))
    assert short == long


def test_ties_broken_by_user() -> None:
    events = list(SyntheticDataset(SyntheticConfig(n_users=50_000), 60_000).interactions())
    keys = [(e.event_time_ms, int(e.user_id)) for e in events]
    assert keys == sorted(keys)


def test_popularity_is_power_law_skewed() -> None:
    cfg = SyntheticConfig(n_items=5_000)
    counts = Counter(e.item_id for e in SyntheticDataset(cfg, 100_000).interactions())
    top = sorted(counts.values(), reverse=True)
    top_share = sum(top[: cfg.n_items // 100]) / 100_000
    assert top_share > 0.2, f"top 1% of items got only {top_share:.1%} of events"


def test_sessions_are_separated_by_the_session_gap() -> None:
    cfg = SyntheticConfig(session_gap_s=600, mean_session_events=5.0)
    by_user: defaultdict[str, list[int]] = defaultdict(list)
    for e in SyntheticDataset(cfg, 60_000).interactions():
        by_user[e.user_id].append(e.event_time_ms)
    gap_ms = cfg.session_gap_s * 1000
    within, between = 0, 0
    for times in by_user.values():
        for a, b in pairwise(times):
            assert b - a > 0
            assert b - a <= gap_ms // 2 or b - a >= gap_ms, "no pause is ambiguous between in- and out-of-session"
            within += b - a < gap_ms
            between += b - a >= gap_ms
    sessions = len(by_user) + between
    assert 3.0 < 60_000 / sessions < 7.0, "mean events per session should be near mean_session_events"
    assert within > between


def test_event_fields_are_plausible() -> None:
    events = list(SyntheticDataset(SyntheticConfig(), 50_000).interactions())
    kinds = Counter(e.event_type for e in events)
    assert set(kinds) == {"IMPRESSION", "CLICK", "PLAY", "RATING", "ADD_TO_LIST", "THUMBS"}
    assert set(kinds) <= set(EVENT_TYPES)
    assert kinds["IMPRESSION"] == max(kinds.values())
    for e in events:
        assert isinstance(e, Interaction)
        assert isinstance(e.value, float)
        assert isinstance(e.event_time_ms, int)
        assert e.device in DEVICES
        assert e.device != "DEVICE_UNSPECIFIED"
        assert len(e.country) == 2
        assert e.surface
        assert -1 <= e.position < 40
        if e.event_type == "RATING":
            assert 0.5 <= e.value <= 5.0
            assert (e.value * 2).is_integer()
            assert e.position == -1
        elif e.event_type == "THUMBS":
            assert e.value in (1.0, -1.0)
        elif e.event_type == "PLAY":
            assert e.value >= 1.0
        elif e.event_type == "IMPRESSION":
            assert e.position >= 0
    ratings = Counter(e.value for e in events if e.event_type == "RATING")
    assert len(ratings) >= 8, "ratings should use most of the half-star scale"


def test_user_attributes_are_stable() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for e in SyntheticDataset(SyntheticConfig(n_users=500), 20_000).interactions():
        assert seen.setdefault(e.user_id, (e.device, e.country)) == (e.device, e.country)


def test_items_catalog() -> None:
    cfg = SyntheticConfig(n_items=120, n_genres=5)
    items = list(SyntheticDataset(cfg, 10).items())
    assert [i.item_id for i in items] == [str(k) for k in range(1, 121)]
    assert items[41].title == "Synthetic Item 00042"
    allowed = set(MOVIELENS_GENRES[:5])
    for item in items:
        assert 1 <= len(item.genres) <= 3
        assert len(set(item.genres)) == len(item.genres)
        assert set(item.genres) <= allowed
        assert 1920 <= item.year <= 2025
    event_items = {e.item_id for e in SyntheticDataset(cfg, 5_000).interactions()}
    assert event_items <= {i.item_id for i in items}


def test_genre_names() -> None:
    assert genre_names(18) == MOVIELENS_GENRES
    assert genre_names(3) == ("Drama", "Comedy", "Thriller")
    assert genre_names(20)[0] == "Genre 01"
    assert len(genre_names(64)) == 64


@pytest.mark.parametrize(
    "cfg",
    [
        SyntheticConfig(n_users=1, n_items=1, n_genres=1, mean_session_events=0.5, session_gap_s=1),
        SyntheticConfig(n_users=3, n_items=2, n_genres=40, taste_drift=1.0),
        SyntheticConfig(n_users=2_000, n_items=50_000, n_genres=64, taste_drift=0.0),
    ],
)
def test_extreme_configs_still_stream(cfg: SyntheticConfig) -> None:
    events = list(SyntheticDataset(cfg, 3_000).interactions())
    assert len(events) == 3_000
    assert all(a.event_time_ms <= b.event_time_ms for a, b in pairwise(events))
    assert {int(e.item_id) for e in events} <= set(range(1, cfg.n_items + 1))


def test_rejects_negative_count() -> None:
    with pytest.raises(ValueError, match="n_events"):
        SyntheticDataset(SyntheticConfig(), -1)


def test_memory_does_not_grow_with_stream_length() -> None:
    def peak(n: int) -> int:
        ds = SyntheticDataset(SyntheticConfig(), n)
        tracemalloc.start()
        try:
            for _ in ds.interactions():
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(40_000), peak(160_000)
    assert large < 1.5 * small + 2_000_000, f"peak {large} bytes for 160k events vs {small} for 40k"
