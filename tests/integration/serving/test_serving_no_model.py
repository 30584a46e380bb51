"""Fresh install (no model was ever promoted): the ranker still serves a page, from the catalog topic (Kafka)
and the speed layer's item_fresh (Redis, written through Feast), flagged ``model:unavailable``."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Producer

from hybridrec.config import Settings
from hybridrec.contract import ITEM_FRESH_VIEW
from hybridrec.feature_store import apply_definitions
from hybridrec.kafka.producer import producer_config
from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb.events_pb2 import CatalogItem
from serving.server import start
from tests.support import serving_env as env

pytestmark = pytest.mark.integration
HOUR = 3_600_000


def test_no_model_serves_trending_and_popularity_rows_from_the_speed_layer(isolated: Settings, tmp_path: Path) -> None:
    settings = env.serving_settings(isolated, tmp_path)
    genres = {
        "m1": ["Comedy"],
        "m2": ["Drama"],
        "m3": ["Comedy", "Drama"],
        "m4": ["Horror"],
        "m5": ["Comedy"],
        "m6": ["Drama"],
    }
    producer = Producer(producer_config(isolated.kafka))
    for item, g in genres.items():
        producer.produce(
            isolated.kafka.topics.catalog,
            CatalogItem(item_id=item, title=f"Film {item}", genres=g, year=2000).SerializeToString(),
            item.encode(),
        )
    assert producer.flush(30) == 0
    now = int(time.time() * 1000)
    # (trending_1h, window end, decayed_popularity, last_event_ms); m6 has no item_fresh row at all.
    fresh = {
        "m1": (7, now, 3.0, now),
        "m2": (12, now, 1.0, now),
        "m3": (0, now, 9.0, now),
        "m4": (3, now - 5 * HOUR, 30.0, now - 30 * HOUR),  # stale window; 30 decayed over 5 half-lives
        "m5": (0, now, 2.0, now),
    }
    store = apply_definitions(settings)
    ts = pd.Timestamp(datetime.now(tz=UTC))
    store.write_to_online_store(
        ITEM_FRESH_VIEW,
        pd.DataFrame(
            [
                {
                    "item_id": i,
                    "trending_1h": c,
                    "trending_window_end_ms": e,
                    "decayed_popularity": p,
                    "last_event_ms": t,
                    # (FOR_YOU's part, at each half-life the speed layer keeps: no model, so no FOR_YOU here)
                    "popularity_recent": p,
                    "popularity_recent_7d": p,
                    "popularity_recent_365d": p,
                    "event_timestamp": ts,
                }
                for i, (c, e, p, t) in fresh.items()
            ]
        ),
    )

    async def scenario() -> pb.HomepageResponse:
        running = await start(settings)  # reads the catalog topic; the registry is empty
        channel, ranker = env.stub(running.port)
        try:
            assert running.holder.current is None
            return await ranker.GetHomepage(
                pb.HomepageRequest(user_id="u1", n_rows=4, items_per_row=3, context=pb.RequestContext(device=1)),
                timeout=5,
            )
        finally:
            await channel.close()
            await running.stop(1.0)

    page = asyncio.run(scenario())
    assert "model:unavailable" in page.degraded and page.model_version == ""
    # Decayed to now: m3 9, m1 3, m5 2, m2 1, m4 30·2^-5 ≈ 0.94 (undecayed, m4 would lead everything and Horror
    # would be the first genre). Genre mass: Comedy 9/2 + 3 + 2, Drama 9/2 + 1, Horror 0.94. Rows in homepage
    # order, deduplicated: what trending took is gone for the rows below.
    assert [(r.type, r.title, [i.item_id for i in r.items]) for r in page.rows] == [
        (pb.TRENDING, "Trending now", ["m2", "m1"]),  # by trending_1h; m4's window is stale
        (pb.TOP_GENRE, "Popular in Comedy", ["m3", "m5"]),
        (pb.POPULAR, "Popular right now", ["m4"]),
    ]
    assert all(0 < i.propensity <= 1 for r in page.rows for i in r.items)
