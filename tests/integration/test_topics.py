"""Topic creation against the real broker: idempotent, with explicit retention."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource

from hybridrec.config import Settings
from hybridrec.kafka.topics import admin_client, ensure_topics

pytestmark = pytest.mark.integration


def test_ensure_topics_is_idempotent_and_sets_retention(isolated: Settings) -> None:
    kafka = isolated.kafka
    assert set(ensure_topics(kafka).values()) == {"exists"}
    admin = admin_client(kafka)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[kafka.topics.interactions].partitions) == kafka.topics.partitions
    assert len(md.topics[kafka.topics.dlq].partitions) == 1
    names = (kafka.topics.interactions, kafka.topics.catalog)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    configs = [f.result() for f in admin.describe_configs(resources).values()]
    by_topic = {r.name: c for r, c in zip(resources, configs, strict=True)}
    assert by_topic[kafka.topics.interactions]["retention.ms"].value == str(kafka.topics.interactions_retention_ms)
    assert by_topic[kafka.topics.interactions]["cleanup.policy"].value == "delete"
    assert by_topic[kafka.topics.catalog]["cleanup.policy"].value == "compact"
