"""Titles and genres of the catalog, for row titles ("Because you watched Heat") and for genres of items the
batch features do not cover yet. Read from the compacted ``catalog`` topic up to its end at start-up (and
re-read in the background); titles fall back to the item id until it has been read."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from hybridrec.config import KafkaConfig
from hybridrec_pb.events_pb2 import CatalogItem

log = logging.getLogger("hybridrec.serving.catalog")


@dataclass
class Catalog:
    titles: dict[str, str] = field(default_factory=dict)
    genres: dict[str, tuple[str, ...]] = field(default_factory=dict)
    generation: int = 0      # bumped by every refresh, so derived lists (the catalog's ids) are rebuilt only then

    def update(self, other: Catalog) -> None:
        self.titles.update(other.titles)
        self.genres.update(other.genres)
        self.generation += 1

    def title(self, item_id: str) -> str:
        return self.titles.get(item_id) or item_id


def read_catalog_topic(kafka: KafkaConfig, timeout_s: float = 10.0) -> Catalog:
    """Every current entry of the compacted topic (latest value per key; empty values are deletions)."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"serving-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    cat = Catalog()
    try:
        md = consumer.list_topics(kafka.topics.catalog, timeout=timeout_s).topics.get(kafka.topics.catalog)
        if md is None or md.error is not None:
            return cat
        parts = [TopicPartition(kafka.topics.catalog, p, OFFSET_BEGINNING) for p in md.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=timeout_s)[1] for p in parts}
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign(parts)
        while todo:
            msg = consumer.poll(timeout_s)
            if msg is None:
                break
            if msg.error():
                continue
            key = (msg.key() or b"").decode()
            if msg.value():
                item = CatalogItem.FromString(msg.value())
                cat.titles[item.item_id] = item.title
                cat.genres[item.item_id] = tuple(item.genres)
            else:
                cat.titles.pop(key, None)
                cat.genres.pop(key, None)
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
    finally:
        consumer.close()
    return cat
