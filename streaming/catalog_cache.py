"""Item genres for the genre vectors, read from the compacted ``catalog`` topic (``CatalogItem`` by item_id).

The catalog is small and changes rarely, so each worker keeps it in memory: read to the end at start, and
re-read (at most every ``catalog_refresh_ms``) when an unknown item shows up. An item still unknown after
that counts as genre ``Other``, like an item without genres.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from hybridrec.config import KafkaConfig
from hybridrec.contract import genre_vector
from hybridrec_pb.events_pb2 import CatalogItem


def read_catalog(kafka: KafkaConfig, timeout_s: float = 30.0) -> dict[str, tuple[str, ...]]:
    """item_id → genres, the latest entry per item, reading every partition up to its end offset."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"catalog-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        topic = kafka.topics.catalog
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        ends: dict[int, int] = {}
        assignment = []
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        genres: dict[str, tuple[str, ...]] = {}
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    continue
                if msg.value() is not None:
                    item = CatalogItem.FromString(msg.value())
                    genres[item.item_id] = tuple(item.genres)
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        return genres
    finally:
        consumer.close()


class CatalogCache:
    """Genre vectors by item id, refreshed from Kafka on a miss (rate-limited)."""

    def __init__(self, kafka: KafkaConfig, refresh_ms: int) -> None:
        self._kafka = kafka
        self._refresh_s = refresh_ms / 1000
        self._genres = read_catalog(kafka)
        self._read_at = time.monotonic()
        self._vectors: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._genres)

    def vector(self, item_id: str) -> list[float]:
        vec = self._vectors.get(item_id)
        if vec is not None:
            return vec
        if item_id not in self._genres and time.monotonic() - self._read_at >= self._refresh_s:
            self._genres = read_catalog(self._kafka)
            self._read_at = time.monotonic()
        vec = genre_vector(self._genres.get(item_id, ()))
        if item_id in self._genres:
            self._vectors[item_id] = vec
        return vec
