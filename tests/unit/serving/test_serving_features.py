"""Decoding of the user features, including the fields added after the first jobs (hidden_items, top_k_*),
and the Feast SDK backend asking only for the fields its registry defines."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from serving.features.feast_sdk import FeastFeatureReader
from serving.features.redis_direct import USER_BATCH_FIELDS, USER_FRESH_FIELDS, user_from_values


def _values(**given: Any) -> tuple[list[Any], list[Any]]:
    return [given.get(n) for n in USER_FRESH_FIELDS], [given.get(n) for n in USER_BATCH_FIELDS]


def test_new_fields_are_read_and_their_absence_is_empty() -> None:
    f = user_from_values(
        *_values(
            recent_items=("a",),
            hidden_items=("x", "y"),
            top_k_items=("p", "q"),
            top_k_scores=(0.9, 0.5),
            n_events=3,
            engaged_items=("a", "b"),
        )
    )
    assert f is not None and f.hidden_items == {"x", "y"} and f.top_k_items == ("p", "q")
    assert f.engaged_items == ("a", "b") and f.last_engaged_ms is None
    engaged = user_from_values(*_values(recent_items=("a", "b"), recent_item_times_ms=(9, 4), last_event_ms=12))
    assert engaged is not None and engaged.last_engaged_ms == 9 and engaged.last_event_ms == 12, "12: an impression"
    assert f.top_k_scores == (0.9, 0.5) and f.recent_items == ("a",)
    old = user_from_values(*_values(recent_items=("a",), last_event_ms=5))  # hash of an older job
    assert old is not None and old.hidden_items == frozenset() and old.top_k_items == () and old.top_k_scores == ()
    assert old.engaged_items == ()
    mismatched = user_from_values(*_values(top_k_items=("p", "q"), top_k_scores=(0.9,)))
    assert mismatched is not None and mismatched.top_k_items == ("p", "q") and mismatched.top_k_scores == ()
    assert user_from_values(*_values()) is None


class _Store:
    """Stands in for feast.FeatureStore: a registry whose views lack the newer fields."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.views = {
            "user_fresh": ["recent_items", "session_genres", "taste_genres", "last_event_ms"],
            "user_batch": ["genre_profile", "n_events", "n_ratings", "mean_rating", "first_event_ms"],
        }

    def get_feature_view(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(features=[SimpleNamespace(name=n) for n in self.views[name]])

    def get_online_features(self, features: list[str], entity_rows: list[dict]) -> SimpleNamespace:
        self.asked = features
        values = {"recent_items": ["a"], "last_event_ms": 7, "n_events": 2}
        return SimpleNamespace(to_dict=lambda: {r.split(":")[1]: [values.get(r.split(":")[1])] for r in features})


def test_feast_backend_asks_only_for_fields_the_registry_defines() -> None:
    reader = FeastFeatureReader.__new__(FeastFeatureReader)
    reader._store, reader._schema_ttl_s, reader._schema = _Store(), 0.0, {}
    f = asyncio.run(reader.read_user("u1"))
    assert not any("hidden_items" in r or "top_k" in r for r in reader._store.asked)
    assert f is not None and f.recent_items == ("a",) and f.last_event_ms == 7 and f.hidden_items == frozenset()
    reader._store.views["user_fresh"].append("hidden_items")  # the view gains the field: asked from then on
    asyncio.run(reader.read_user("u1"))
    assert "user_fresh:hidden_items" in reader._store.asked
