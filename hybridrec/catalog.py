"""Publishing the item catalog: the compacted ``catalog`` topic (for the speed layer and serving) and a
Parquet snapshot in the lake (for the batch layer). Both carry the same ``CatalogItem`` fields."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Producer

from hybridrec.config import KafkaConfig
from hybridrec.datasets.model import Item
from hybridrec.kafka.producer import producer_config
from hybridrec_pb.events_pb2 import CatalogItem

CATALOG_SCHEMA = pa.schema([
    ("item_id", pa.string()), ("title", pa.string()), ("genres", pa.list_(pa.string())), ("year", pa.int32()),
])


def catalog_snapshot_path(lake_dir: Path) -> Path:
    return lake_dir / "catalog" / "items.parquet"


def write_snapshot(items: list[Item], lake_dir: Path) -> Path:
    """Write the catalog atomically (temp file + rename), so a reader never sees half a file."""
    path = catalog_snapshot_path(lake_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "item_id": [i.item_id for i in items], "title": [i.title for i in items],
        "genres": [list(i.genres) for i in items], "year": [i.year for i in items],
    }, schema=CATALOG_SCHEMA)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_snapshot(lake_dir: Path) -> list[Item]:
    table = pq.read_table(catalog_snapshot_path(lake_dir))
    return [Item(r["item_id"], r["title"], tuple(r["genres"]), r["year"]) for r in table.to_pylist()]


def publish(items: Iterable[Item], kafka: KafkaConfig, lake_dir: Path, timeout_s: float = 60.0) -> int:
    """Send every item to the catalog topic and write the lake snapshot; return the number of items."""
    items = list(items)
    producer = Producer(producer_config(kafka))
    for item in items:
        msg = CatalogItem(item_id=item.item_id, title=item.title, genres=list(item.genres), year=item.year)
        producer.produce(kafka.topics.catalog, msg.SerializeToString(), item.item_id.encode())
        producer.poll(0)
    if producer.flush(timeout_s):
        raise RuntimeError(f"catalog not acknowledged by {kafka.bootstrap_servers} within {timeout_s}s")
    write_snapshot(items, lake_dir)
    return len(items)
