"""The feature contract: entities, sources and feature views that the speed and batch layers fill and
serving reads. A plain Feast repo: `feast -c feature_repo apply` works on it (see feature_store.yaml).

Genre vectors are ``Array(Float32)`` on the fixed axis ``hybridrec.contract.GENRES``; per-event-type counts
are ``Array(Int64)`` indexed by the ``EventType`` enum number of ``protos/hybridrec_pb/events.proto``.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Array, Float32, Float64, Int32, Int64, String

from hybridrec.config import get_settings
from hybridrec.contract import ITEM_BATCH_VIEW, ITEM_FRESH_VIEW, USER_BATCH_VIEW, USER_FRESH_VIEW

_features_dir = get_settings().paths.lake_dir / "features"

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, description="a member profile")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING, description="a title")


def _offline(name: str) -> FileSource:
    """Parquet directory of a view's history: the batch layer writes it, Feast's offline store reads it."""
    return FileSource(name=f"{name}_offline", path=str(_features_dir / name), timestamp_field="event_timestamp")


# --- speed layer (PyFlink job pushes these to the online store within a second) -----------------------

user_fresh_push = PushSource(name="user_fresh_push", batch_source=_offline(USER_FRESH_VIEW))
item_fresh_push = PushSource(name="item_fresh_push", batch_source=_offline(ITEM_FRESH_VIEW))

user_fresh = FeatureView(
    name=USER_FRESH_VIEW,
    entities=[user],
    ttl=timedelta(days=7),
    online=True,
    source=user_fresh_push,
    schema=[
        Field(name="recent_items", dtype=Array(String), description="last N item ids, newest first"),
        Field(name="recent_item_times_ms", dtype=Array(Int64), description="event times of recent_items"),
        Field(name="session_start_ms", dtype=Int64, description="start of the current session"),
        Field(name="session_items", dtype=Array(String), description="items of the current session, in order"),
        Field(name="session_genres", dtype=Array(Float32), description="genre mix of the current session"),
        Field(name="taste_genres", dtype=Array(Float32), description="exponentially decayed genre taste"),
        Field(name="counts_1h", dtype=Array(Int64), description="events per type over the last hour"),
        Field(name="counts_1d", dtype=Array(Int64), description="events per type over the last day"),
        Field(name="last_event_ms", dtype=Int64, description="event time of the newest event seen"),
    ],
)

item_fresh = FeatureView(
    name=ITEM_FRESH_VIEW,
    entities=[item],
    ttl=timedelta(days=2),
    online=True,
    source=item_fresh_push,
    schema=[
        Field(name="trending_1h", dtype=Int64, description="events in the last 1 h sliding window"),
        Field(name="trending_window_end_ms", dtype=Int64, description="end of that window"),
        Field(name="decayed_popularity", dtype=Float64, description="exponentially decayed event count"),
        Field(name="last_event_ms", dtype=Int64),
    ],
)

# --- batch layer (nightly Spark pipeline writes the offline tables and materializes them) --------------

user_batch = FeatureView(
    name=USER_BATCH_VIEW,
    entities=[user],
    ttl=timedelta(days=400),
    online=True,
    source=_offline(USER_BATCH_VIEW),
    schema=[
        Field(name="genre_profile", dtype=Array(Float32), description="long-term genre mix"),
        Field(name="n_events", dtype=Int64),
        Field(name="n_ratings", dtype=Int64),
        Field(name="mean_rating", dtype=Float64),
        Field(name="active_days", dtype=Int64),
        Field(name="first_event_ms", dtype=Int64),
    ],
)

item_batch = FeatureView(
    name=ITEM_BATCH_VIEW,
    entities=[item],
    ttl=timedelta(days=400),
    online=True,
    source=_offline(ITEM_BATCH_VIEW),
    schema=[
        Field(name="popularity", dtype=Float64, description="events in the training window, normalized"),
        Field(name="n_ratings", dtype=Int64),
        Field(name="mean_rating", dtype=Float64),
        Field(name="genres", dtype=Array(String)),
        Field(name="year", dtype=Int32),
        Field(name="age_days", dtype=Int64, description="days since first seen in the archive"),
    ],
)

ALL = [user, item, user_fresh_push, item_fresh_push, user_fresh, item_fresh, user_batch, item_batch]
