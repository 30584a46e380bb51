"""Topic creation against the real broker: idempotent, with explicit retention."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from hybridrec.config import KafkaConfig, Settings
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


def _min_insync(kafka: KafkaConfig, topic: str) -> str:
    admin = admin_client(kafka)  # held while the future is pending (a collected client cancels it)
    for _ in range(50):  # a topic created a moment ago may not be known to the config handler yet
        (future,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
        try:
            return str(future.result()["min.insync.replicas"].value)
        except KafkaException:
            time.sleep(0.1)
    raise AssertionError(f"no configuration of {topic}")


def test_min_insync_replicas_from_config_and_never_lowered(isolated: Settings) -> None:
    """Created with min(2, RF) (1 on the single broker); an operator's stricter setting survives a re-run, which
    used to reset every topic to a hard-coded 1."""
    kafka = isolated.kafka
    assert kafka.topics.effective_min_insync_replicas == 1
    assert _min_insync(kafka, kafka.topics.interactions) == "1"
    stricter = ConfigResource(
        ConfigResource.Type.TOPIC,
        kafka.topics.interactions,
        incremental_configs=[ConfigEntry("min.insync.replicas", "2", incremental_operation=AlterConfigOpType.SET)],
    )
    admin = admin_client(kafka)
    for future in admin.incremental_alter_configs([stricter]).values():
        future.result()
    deadline = time.monotonic() + 30  # the broker applies the change from the metadata log a moment later
    while _min_insync(kafka, kafka.topics.interactions) != "2" and time.monotonic() < deadline:
        time.sleep(0.2)
    outcome = ensure_topics(kafka)
    assert _min_insync(kafka, kafka.topics.interactions) == "2"
    assert "never lowered" in outcome[kafka.topics.interactions], outcome
    assert outcome[kafka.topics.dlq] == "exists"
