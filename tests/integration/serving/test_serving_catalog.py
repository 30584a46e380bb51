"""Titles for row explanations come from the compacted catalog topic: latest value per key, deletions honoured."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from hybridrec.config import Settings
from hybridrec.kafka.producer import producer_config
from hybridrec_pb.events_pb2 import CatalogItem
from serving.catalog import read_catalog_topic

pytestmark = pytest.mark.integration


def test_catalog_topic_read_to_its_end(isolated: Settings) -> None:
    kafka = isolated.kafka
    producer = Producer(producer_config(kafka))
    for item_id, title, genres in (("m1", "Heat", ["Crime"]), ("m2", "Alien", ["Horror", "Sci-Fi"]),
                                   ("m1", "Heat (1995)", ["Crime", "Thriller"])):
        producer.produce(kafka.topics.catalog, CatalogItem(item_id=item_id, title=title, genres=genres,
                                                           year=1995).SerializeToString(), item_id.encode())
    producer.produce(kafka.topics.catalog, None, b"m2")  # tombstone
    assert producer.flush(30) == 0
    catalog = read_catalog_topic(kafka)
    assert catalog.titles == {"m1": "Heat (1995)"}
    assert catalog.genres == {"m1": ("Crime", "Thriller")}
    assert catalog.title("m1") == "Heat (1995)" and catalog.title("zz") == "zz"
