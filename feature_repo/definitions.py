"""The feature contract: entities, sources and feature views that the speed and batch layers fill and
serving reads. A plain Feast repo: `feast -c feature_repo apply` works on it (see feature_store.yaml).

Code builds the objects for *its* settings with :func:`build` (the offline Parquet paths live under
``settings.paths.lake_dir``); importing this module builds nothing. The Feast CLI, which discovers objects
at module level, finds them in ``feature_repo/cli_objects.py``, built there from the process settings.

Genre vectors are ``Array(Float32)`` on the fixed axis ``hybridrec.contract.GENRES``; per-event-type counts
are ``Array(Int64)`` indexed by the ``EventType`` enum number of ``protos/hybridrec_pb/events.proto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Array, Bytes, Float32, Float64, Int32, Int64, String

from hybridrec.config import Settings
from hybridrec.contract import ITEM_BATCH_VIEW, ITEM_FRESH_VIEW, USER_BATCH_VIEW, USER_FRESH_VIEW
from hybridrec.fresh_features import ITEM_FRESH, USER_FRESH, FreshView

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, description="a member profile")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING, description="a title")


@dataclass(frozen=True)
class Definitions:
    """Every Feast object of the repo, bound to one lake."""

    user_fresh_push: PushSource
    item_fresh_push: PushSource
    user_fresh: FeatureView
    item_fresh: FeatureView
    user_batch: FeatureView
    item_batch: FeatureView

    @property
    def all(self) -> list[object]:
        return [
            user,
            item,
            self.user_fresh_push,
            self.item_fresh_push,
            self.user_fresh,
            self.item_fresh,
            self.user_batch,
            self.item_batch,
        ]


def offline_dir(settings: Settings) -> Path:
    """Where the offline Parquet tables of the views live (one directory per view)."""
    return settings.paths.lake_dir / "features"


_DTYPES = {
    "Int64": Int64,
    "Float64": Float64,
    "Array(String)": Array(String),
    "Array(Int64)": Array(Int64),
    "Array(Float32)": Array(Float32),
}


def fresh_view(view: FreshView, entity: Entity, source: PushSource) -> FeatureView:
    """A Feast view of fresh features, its schema straight from their declaration in ``hybridrec.fresh_features``."""
    return FeatureView(
        name=view.name,
        entities=[entity],
        ttl=view.ttl,
        online=True,
        source=source,
        schema=[Field(name=o.name, dtype=_DTYPES[o.dtype], description=o.description) for o in view.outputs()],
    )


def build(settings: Settings) -> Definitions:
    """The definitions whose offline sources are under ``settings``' lake."""
    features_dir = offline_dir(settings)

    def offline(name: str) -> FileSource:
        """Parquet directory of a view's history: the batch layer writes it, Feast's offline store reads it."""
        return FileSource(name=f"{name}_offline", path=str(features_dir / name), timestamp_field="event_timestamp")

    # --- speed layer (the Flink job writes these to the online store on arrival; hybridrec.fresh_features) ----

    user_fresh_push = PushSource(name="user_fresh_push", batch_source=offline(USER_FRESH_VIEW))
    item_fresh_push = PushSource(name="item_fresh_push", batch_source=offline(ITEM_FRESH_VIEW))

    user_fresh = fresh_view(USER_FRESH, user, user_fresh_push)
    item_fresh = fresh_view(ITEM_FRESH, item, item_fresh_push)

    # --- batch layer (nightly Spark pipeline writes the offline tables and materializes them) ----------

    user_batch = FeatureView(
        name=USER_BATCH_VIEW,
        entities=[user],
        ttl=timedelta(days=400),
        online=True,
        source=offline(USER_BATCH_VIEW),
        schema=[
            Field(name="genre_profile", dtype=Array(Float32), description="long-term genre mix"),
            Field(name="n_events", dtype=Int64),
            Field(name="n_ratings", dtype=Int64),
            Field(name="mean_rating", dtype=Float64),
            Field(name="active_days", dtype=Int64),
            Field(name="first_event_ms", dtype=Int64),
            Field(
                name="top_k_items",
                dtype=Array(String),
                description="precomputed candidates: the user's top K unseen items by ALS score, best first",
            ),
            Field(name="top_k_scores", dtype=Array(Float32), description="scores of top_k_items, same order"),
            Field(
                name="seen_hashes",
                dtype=Bytes,
                description="every item the user engaged with in the window: sorted 64-bit hashes "
                "(hybridrec.seen), serving's seen-filter",
            ),
        ],
    )

    item_batch = FeatureView(
        name=ITEM_BATCH_VIEW,
        entities=[item],
        ttl=timedelta(days=400),
        online=True,
        source=offline(ITEM_BATCH_VIEW),
        schema=[
            Field(name="popularity", dtype=Float64, description="events in the training window, normalized"),
            Field(name="n_ratings", dtype=Int64),
            Field(name="mean_rating", dtype=Float64),
            Field(name="genres", dtype=Array(String)),
            Field(name="year", dtype=Int32),
            Field(name="age_days", dtype=Int64, description="days since first seen in the archive"),
        ],
    )

    return Definitions(user_fresh_push, item_fresh_push, user_fresh, item_fresh, user_batch, item_batch)
