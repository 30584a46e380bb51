"""A ranker on the real services for integration tests: an isolated Feast project in the shared Redis (or a
throw-away Redis), isolated Kafka topics, a tiny model in a registry under tmp_path, the server on a free
port."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pandas as pd

from hybridrec.config import Settings, with_section
from hybridrec.contract import ITEM_BATCH_VIEW, USER_BATCH_VIEW, USER_FRESH_VIEW
from hybridrec.feature_store import apply_definitions
from hybridrec.registry import ModelRegistry
from hybridrec_pb import ranker_pb2_grpc
from serving.config import ServingSettings
from serving.features.base import UserFeatures
from tests.support import serving_kit as kit


def serving_settings(base: Settings, tmp: Path, **serving: Any) -> ServingSettings:
    base = with_section(base, "feast", project=f"t{uuid.uuid4().hex[:10]}", registry_path=tmp / "feast" / "registry.db")
    base = with_section(base, "paths", registry_dir=tmp / "registry")
    cfg = {"port": 0, "metrics_port": 0, "registry_poll_s": 0.2, "trending_refresh_s": 0.5, "grace_s": 1.0, **serving}
    return ServingSettings(**{**base.model_dump(exclude={"serving"}), "serving": cfg})


def seed_features(settings: ServingSettings, w: kit.World, users: dict[str, UserFeatures]) -> None:
    """item_batch for the catalog and user views through Feast's own write path (what batch/streaming use)."""
    store = apply_definitions(settings)
    ts = pd.Timestamp(datetime.now(tz=UTC))
    items = w.item_features()
    store.write_to_online_store(
        ITEM_BATCH_VIEW,
        pd.DataFrame(
            [
                {
                    "item_id": i,
                    "popularity": f.popularity,
                    "n_ratings": int(f.n_ratings),
                    "mean_rating": f.mean_rating,
                    "genres": list(f.genres),
                    "year": int(f.year),
                    "age_days": int(f.age_days),
                    "event_timestamp": ts,
                }
                for i, f in items.items()
            ]
        ),
    )
    write_users(settings, users)


def write_users(settings: ServingSettings, users: dict[str, UserFeatures], *, newer_fields: bool = True) -> None:
    """Both user views through Feast's write path; ``newer_fields=False`` writes a hash as a job from before
    hidden_items / top_k_* / seen_hashes did (the fields are absent, not empty)."""
    from hybridrec.feature_store import open_store

    if not users:
        return
    store = open_store(settings)
    ts = pd.Timestamp(datetime.now(tz=UTC))

    def defined(view: str, row: dict[str, Any]) -> dict[str, Any]:
        """Fields the registered view has (hidden_items, engaged_items and top_k_* only exist in newer definitions)."""
        have = {f.name for f in store.get_feature_view(view).features} | {"user_id", "event_timestamp"}
        return {k: v for k, v in row.items() if k in have}

    store.write_to_online_store(
        USER_FRESH_VIEW,
        pd.DataFrame(
            [
                defined(
                    USER_FRESH_VIEW,
                    {
                        "user_id": u,
                        "recent_items": list(f.recent_items),
                        # the engagements' times: the newest is the user's last engagement (else last event)
                        "recent_item_times_ms": [
                            f.last_engaged_ms if f.last_engaged_ms is not None else (f.last_event_ms or 0)
                        ]
                        * len(f.recent_items),
                        "session_start_ms": f.last_event_ms or 0,
                        "session_items": list(f.recent_items),
                        "session_genres": list(f.session_genres or ()),
                        "taste_genres": list(f.taste_genres or ()),
                        "counts_1h": [0] * 8,
                        "counts_1d": [0] * 8,
                        "last_event_ms": f.last_event_ms or 0,
                        "hidden_items": sorted(f.hidden_items),
                        "engaged_items": list(f.engaged_items),
                        "event_timestamp": ts,
                    },
                )
                for u, f in users.items()
            ]
        ),
    )
    store.write_to_online_store(
        USER_BATCH_VIEW,
        pd.DataFrame(
            [
                defined(
                    USER_BATCH_VIEW,
                    {
                        "user_id": u,
                        "genre_profile": list(f.genre_profile or ()),
                        "n_events": int(f.n_events),
                        "n_ratings": int(f.n_ratings),
                        "mean_rating": f.mean_rating,
                        "active_days": 3,
                        "first_event_ms": f.first_event_ms or 0,
                        "top_k_items": list(f.top_k_items),
                        "top_k_scores": list(f.top_k_scores),
                        "seen_hashes": f.seen_hashes,
                        "event_timestamp": ts,
                    },
                )
                for u, f in users.items()
            ]
        ),
    )
    if not newer_fields:  # Feast writes every field of the view; drop the newer ones from the hash afterwards
        import redis

        from serving.features.redis_direct import entity_key, hash_fields

        client = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
        fields = hash_fields(USER_FRESH_VIEW, ["hidden_items", "engaged_items"]) + hash_fields(
            USER_BATCH_VIEW, ["top_k_items", "top_k_scores", "seen_hashes"]
        )
        for u in users:
            client.hdel(entity_key("user_id", u, settings.feast.project), *fields)
        client.close()


def publish_model(settings: ServingSettings, w: kit.World, tmp: Path, seed: int = 0) -> str:
    return kit.publish(ModelRegistry(settings.paths.registry_root), w, tmp, seed=seed).version


def stub(port: int) -> tuple[grpc.aio.Channel, ranker_pb2_grpc.RankerStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, ranker_pb2_grpc.RankerStub(channel)
