"""Idempotent creation of the project's topics, each with explicit retention and cleanup settings."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from hybridrec.config import KafkaConfig


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(cfg: KafkaConfig) -> list[TopicSpec]:
    """The topics hybridrec needs. Interactions and impressions are keyed by user_id (one partition per user)."""
    t = cfg.topics
    common = {"max.message.bytes": str(t.max_message_bytes), "min.insync.replicas": "1"}
    return [
        TopicSpec(t.interactions, t.partitions,
                  {**common, "cleanup.policy": "delete", "retention.ms": str(t.interactions_retention_ms)}),
        TopicSpec(t.dlq, 1, {**common, "cleanup.policy": "delete", "retention.ms": str(t.dlq_retention_ms)}),
        TopicSpec(t.impressions, t.partitions,
                  {**common, "cleanup.policy": "delete", "retention.ms": str(t.impressions_retention_ms)}),
        # The catalog is state, not a log: compaction keeps the latest entry per item_id forever.
        TopicSpec(t.catalog, 1, {**common, "cleanup.policy": "compact", "retention.ms": "-1"}),
    ]


def admin_client(cfg: KafkaConfig) -> AdminClient:
    return AdminClient({"bootstrap.servers": cfg.bootstrap_servers})


def ensure_topics(cfg: KafkaConfig, timeout_s: float = 30.0) -> dict[str, str]:
    """Create missing topics and bring the retention settings of existing ones in line; return what happened."""
    admin = admin_client(cfg)
    existing = admin.list_topics(timeout=timeout_s).topics
    outcome: dict[str, str] = {}
    specs = topic_specs(cfg)
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=cfg.topics.replication_factor,
                    config=s.config) for s in specs if s.name not in existing]
    for name, fut in (admin.create_topics(new, operation_timeout=timeout_s) if new else {}).items():
        try:
            fut.result()
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
            outcome[name] = "exists"
    for spec in specs:
        if spec.name in outcome:
            continue
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in spec.config.items()]
        resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
        for fut in admin.incremental_alter_configs([resource]).values():
            fut.result()
        have = len(existing[spec.name].partitions)
        outcome[spec.name] = "exists" if have >= spec.partitions else (
            f"exists with {have} partitions < configured {spec.partitions} (partitions are never reduced "
            f"or silently added: adding them would move users between partitions)")
    return outcome


def delete_topics(cfg: KafkaConfig, names: list[str], timeout_s: float = 30.0) -> None:
    """Delete topics (tests and `hybridrec topics reset`); missing ones are ignored."""
    admin = admin_client(cfg)
    present = [n for n in names if n in admin.list_topics(timeout=timeout_s).topics]
    for fut in (admin.delete_topics(present, operation_timeout=timeout_s) if present else {}).values():
        fut.result()
