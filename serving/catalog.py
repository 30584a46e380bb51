"""Titles and genres of the catalog, for row titles ("Because you watched Heat") and for genres of items the
batch features do not cover yet. Read from the compacted ``catalog`` topic up to its end at start-up (and
re-read in the background); titles fall back to the item id until it has been read.

A record serving cannot use (undecodable bytes, no item id, an item id other than its key) is skipped, counted
by reason and logged with its offset; the rest of the catalog is still read. One bad record used to abort the
whole read, leaving every title an item id."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from google.protobuf.message import DecodeError

from hybridrec.config import KafkaConfig
from hybridrec_pb.events_pb2 import CatalogItem

log = logging.getLogger("hybridrec.serving.catalog")
SKIP_REASONS = ("undecodable", "missing_item_id", "key_not_item_id")


@dataclass
class Catalog:
    titles: dict[str, str] = field(default_factory=dict)
    genres: dict[str, tuple[str, ...]] = field(default_factory=dict)
    generation: int = 0  # bumped by every refresh, so derived lists (the catalog's ids) are rebuilt only then
    skipped: Counter[str] = field(default_factory=Counter)  # records of the last read not used, by reason

    def update(self, other: Catalog) -> None:
        self.titles.update(other.titles)
        self.genres.update(other.genres)
        self.skipped = Counter(other.skipped)
        self.generation += 1

    def title(self, item_id: str) -> str:
        return self.titles.get(item_id) or item_id


def read_catalog_topic(kafka: KafkaConfig, timeout_s: float = 10.0) -> Catalog:
    """Every current entry of the compacted topic (latest value per key; empty values are deletions)."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"serving-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
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
            _apply(cat, msg)
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
    finally:
        consumer.close()
    return cat


def _apply(cat: Catalog, msg: Message) -> None:
    """One record into the catalog: an entry, a deletion (empty value), or a skipped record with its reason."""
    key = (msg.key() or b"").decode(errors="replace")
    if not msg.value():
        cat.titles.pop(key, None)
        cat.genres.pop(key, None)
        return
    try:
        item = CatalogItem.FromString(msg.value())
        reason = "missing_item_id" if not item.item_id else "key_not_item_id" if key != item.item_id else None
    except (DecodeError, UnicodeDecodeError):
        reason = "undecodable"
    if reason is not None:
        cat.skipped[reason] += 1
        log.warning(
            "catalog record skipped (%s): partition %d offset %d key %r, %d bytes",
            reason,
            msg.partition(),
            msg.offset(),
            key[:64],
            len(msg.value()),
        )
        return
    cat.titles[item.item_id] = item.title
    cat.genres[item.item_id] = tuple(item.genres)
