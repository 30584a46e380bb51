"""Titles for row explanations come from the compacted catalog topic: latest value per key, deletions honoured,
records serving cannot use skipped and counted (the rest still read)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from confluent_kafka import Producer

from hybridrec.config import Settings
from hybridrec.kafka.producer import producer_config
from hybridrec_pb.events_pb2 import CatalogItem
from serving.catalog import read_catalog_topic
from serving.server import start
from tests.support import serving_env as env

pytestmark = pytest.mark.integration


def test_catalog_topic_read_to_its_end(isolated: Settings) -> None:
    kafka = isolated.kafka
    producer = Producer(producer_config(kafka))
    for item_id, title, genres in (
        ("m1", "Heat", ["Crime"]),
        ("m2", "Alien", ["Horror", "Sci-Fi"]),
        ("m1", "Heat (1995)", ["Crime", "Thriller"]),
    ):
        producer.produce(
            kafka.topics.catalog,
            CatalogItem(item_id=item_id, title=title, genres=genres, year=1995).SerializeToString(),
            item_id.encode(),
        )
    producer.produce(kafka.topics.catalog, None, b"m2")  # tombstone
    assert producer.flush(30) == 0
    catalog = read_catalog_topic(kafka)
    assert catalog.titles == {"m1": "Heat (1995)"}
    assert catalog.genres == {"m1": ("Crime", "Thriller")}
    assert catalog.title("m1") == "Heat (1995)" and catalog.title("zz") == "zz"


def test_bad_catalog_records_are_skipped_and_counted(isolated: Settings, tmp_path: Path) -> None:
    """Garbage, an entry without an item id and one filed under another key, between good entries and as the
    very last record: every good entry is read, each bad one counted by reason, exported as a gauge."""
    kafka = isolated.kafka
    producer = Producer(producer_config(kafka))

    def send(key: bytes, value: bytes) -> None:
        producer.produce(kafka.topics.catalog, value, key)

    send(b"m1", CatalogItem(item_id="m1", title="Heat", genres=["Crime"]).SerializeToString())
    send(b"m2", b"\xff\xfe not a CatalogItem")
    send(b"m3", CatalogItem(title="no id").SerializeToString())
    send(b"m4", CatalogItem(item_id="m5", title="Alien").SerializeToString())
    send(b"m6", CatalogItem(item_id="m6", title="Fargo", genres=["Crime"]).SerializeToString())
    send(b"m7", b"\x0a\xff")  # truncated field: the last record of the topic, so the read must still end
    assert producer.flush(30) == 0

    catalog = read_catalog_topic(kafka, timeout_s=5)
    assert catalog.titles == {"m1": "Heat", "m6": "Fargo"}
    assert dict(catalog.skipped) == {"undecodable": 2, "missing_item_id": 1, "key_not_item_id": 1}

    async def gauge() -> dict[str, float]:
        running = await start(env.serving_settings(isolated, tmp_path, log_impressions=False))
        try:
            reg = running.engine.metrics.registry
            return {
                r: reg.get_sample_value("hybridrec_serving_catalog_skipped_records", {"reason": r}) or 0.0
                for r in ("undecodable", "missing_item_id", "key_not_item_id")
            }
        finally:
            await running.stop(0.5)

    assert asyncio.run(gauge()) == {"undecodable": 2.0, "missing_item_id": 1.0, "key_not_item_id": 1.0}
