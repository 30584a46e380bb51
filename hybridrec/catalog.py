"""Publishing the item catalog: the compacted ``catalog`` topic (for the speed layer and serving) and a
Parquet snapshot in the lake (for the batch layer). Both carry the same ``CatalogItem`` fields."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import KafkaError, Message, Producer

from hybridrec.config import KafkaConfig
from hybridrec.datasets.model import Item
from hybridrec.kafka.producer import DeliveryError, drain_timeout_s, produce_waiting, producer_config
from hybridrec_pb.events_pb2 import CatalogItem

CATALOG_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("title", pa.string()),
        ("genres", pa.list_(pa.string())),
        ("year", pa.int32()),
    ]
)


def catalog_snapshot_path(lake_dir: Path) -> Path:
    return lake_dir / "catalog" / "items.parquet"


def write_snapshot(items: list[Item], lake_dir: Path) -> Path:
    """Write the catalog atomically (temp file + rename), so a reader never sees half a file."""
    path = catalog_snapshot_path(lake_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "item_id": [i.item_id for i in items],
            "title": [i.title for i in items],
            "genres": [list(i.genres) for i in items],
            "year": [i.year for i in items],
        },
        schema=CATALOG_SCHEMA,
    )
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_snapshot(lake_dir: Path) -> list[Item]:
    table = pq.read_table(catalog_snapshot_path(lake_dir))
    return [Item(r["item_id"], r["title"], tuple(r["genres"]), r["year"]) for r in table.to_pylist()]


class CatalogNotPublished(DeliveryError):
    """Not every item was acknowledged (or publishing was stopped); the lake snapshot was not written."""


def publish(
    items: Iterable[Item], kafka: KafkaConfig, lake_dir: Path, *, stop: Callable[[], str | None] | None = None
) -> int:
    """Send every item to the catalog topic, wait for the broker's verdict on each, then write the lake snapshot;
    return the number of items. Raises :class:`CatalogNotPublished` with the counts when an item was rejected,
    ``stop`` returned a reason, or producing failed: the batch layer's snapshot is written only for a catalog
    Kafka holds in full."""
    items = list(items)
    rejected: Counter[str] = Counter()

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            rejected[err.name()] += 1

    producer = Producer({**producer_config(kafka), "on_delivery": on_delivery})
    handed, stopped_by, failure = 0, None, None
    try:
        for item in items:
            if stop is not None and (stopped_by := stop()) is not None:
                break
            msg = CatalogItem(item_id=item.item_id, title=item.title, genres=list(item.genres), year=item.year)
            produce_waiting(producer, kafka.topics.catalog, msg.SerializeToString(), item.item_id.encode())
            handed += 1
            producer.poll(0)
    except Exception as exc:
        failure, stopped_by = exc, f"error: {type(exc).__name__}: {exc}"
    unacknowledged = producer.flush(drain_timeout_s(kafka))
    if stopped_by is not None or rejected or unacknowledged:
        acked = handed - sum(rejected.values()) - unacknowledged
        raise CatalogNotPublished(
            f"catalog {'stopped (' + stopped_by + ')' if stopped_by else 'incomplete'}: {acked:,} of {len(items):,} "
            f"items acknowledged by {kafka.bootstrap_servers}, {sum(rejected.values()):,} rejected {dict(rejected)}, "
            f"{unacknowledged:,} unacknowledged; the lake snapshot was not written"
        ) from failure
    write_snapshot(items, lake_dir)
    return len(items)
