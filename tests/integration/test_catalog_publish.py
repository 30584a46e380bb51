"""Publishing the catalog: the lake snapshot is written only for a catalog Kafka holds in full; a rejected item or
a stop request is reported with counts, never dropped silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridrec import catalog
from hybridrec.config import KafkaConfig, Settings
from hybridrec.datasets.model import Item
from hybridrec.kafka.topics import ensure_topics
from tests.helpers import consume

pytestmark = pytest.mark.integration


def _items(n: int, title_bytes: int = 10) -> list[Item]:
    return [Item(f"m{k}", os.urandom(title_bytes // 2).hex(), ("Drama",), 1999) for k in range(n)]


def test_items_the_broker_rejects_fail_the_publish_and_keep_the_snapshot_out(
    isolated: Settings, tmp_path: Path
) -> None:
    """A catalog topic whose max.message.bytes is below an item's size: the broker rejects it (a delivery report,
    not an exception at produce time). Without a delivery callback publish() returned as if it were in, and the
    batch layer's snapshot listed an item the topic never got."""
    topics = isolated.kafka.topics.model_copy(
        update={"catalog": f"{isolated.kafka.topics.catalog}.small", "max_message_bytes": 1024}
    )
    kafka = KafkaConfig(**{**isolated.kafka.model_dump(exclude={"topics"}), "topics": topics})
    ensure_topics(kafka)
    try:
        assert catalog.publish(_items(3), kafka, tmp_path / "lake") == 3
        big = Item("m9", os.urandom(1500).hex(), (), 2000)  # 3 kB, incompressible: over the topic's limit
        with pytest.raises(
            catalog.CatalogNotPublished, match=r"0 of 1 items acknowledged .* 1 rejected \{'MSG_SIZE_TOO_LARGE': 1\}"
        ):
            catalog.publish([big], kafka, tmp_path / "lake2")
        assert not catalog.catalog_snapshot_path(tmp_path / "lake2").exists()
        assert len(consume(kafka.bootstrap_servers, kafka.topics.catalog, 4, 10)) == 3
    finally:
        from hybridrec.kafka.topics import delete_topics

        delete_topics(kafka, [kafka.topics.catalog])


def test_a_stop_request_delivers_what_was_sent_and_reports_it(isolated: Settings, tmp_path: Path) -> None:
    items = _items(500)
    asked = iter(range(10**6))

    def stop() -> str | None:
        return "SIGTERM" if next(asked) == 200 else None

    with pytest.raises(catalog.CatalogNotPublished, match=r"stopped \(SIGTERM\): 200 of 500 items acknowledged"):
        catalog.publish(items, isolated.kafka, tmp_path / "lake", stop=stop)
    assert not catalog.catalog_snapshot_path(tmp_path / "lake").exists()
    assert len(consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.catalog, 200, 30)) == 200

    assert catalog.publish(items, isolated.kafka, tmp_path / "lake") == 500  # and a full publish writes it
    assert len(catalog.read_snapshot(tmp_path / "lake")) == 500
