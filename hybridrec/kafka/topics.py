"""Idempotent creation of the project's topics, each with explicit retention and cleanup settings.

Re-running brings an existing topic's retention and cleanup in line with the configuration, but never makes it
less durable: ``min.insync.replicas`` is raised to the configured value and never lowered (an operator's
stricter setting stays), and partitions are neither reduced nor silently added.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from hybridrec.config import KafkaConfig

MIN_INSYNC = "min.insync.replicas"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(cfg: KafkaConfig) -> list[TopicSpec]:
    """The topics hybridrec needs. Interactions and impressions are keyed by user_id (one partition per user)."""
    t = cfg.topics
    common = {"max.message.bytes": str(t.max_message_bytes), MIN_INSYNC: str(t.effective_min_insync_replicas)}
    return [
        TopicSpec(
            t.interactions,
            t.partitions,
            {**common, "cleanup.policy": "delete", "retention.ms": str(t.interactions_retention_ms)},
        ),
        TopicSpec(t.dlq, 1, {**common, "cleanup.policy": "delete", "retention.ms": str(t.dlq_retention_ms)}),
        TopicSpec(
            t.impressions,
            t.partitions,
            {**common, "cleanup.policy": "delete", "retention.ms": str(t.impressions_retention_ms)},
        ),
        # The catalog is state, not a log: compaction keeps the latest entry per item_id forever.
        TopicSpec(t.catalog, 1, {**common, "cleanup.policy": "compact", "retention.ms": "-1"}),
    ]


def min_insync_to_apply(current: int, configured: int, replicas: int) -> int:
    """The ``min.insync.replicas`` an existing topic gets: the configured value when it is stricter than the
    topic's, never below the topic's own (an operator may have raised it on purpose), and not above its replica
    count unless it already was (then every acks=all write fails, which is the operator's call, not ours)."""
    if current >= configured:
        return current
    return max(current, min(configured, replicas))


def admin_client(cfg: KafkaConfig) -> AdminClient:
    return AdminClient({"bootstrap.servers": cfg.bootstrap_servers})


def ensure_topics(cfg: KafkaConfig, timeout_s: float = 30.0) -> dict[str, str]:
    """Create missing topics and bring the settings of existing ones in line (see the module docstring for what
    is never made less durable); return what happened to each."""
    admin = admin_client(cfg)
    existing = admin.list_topics(timeout=timeout_s).topics
    outcome: dict[str, str] = {}
    specs = topic_specs(cfg)
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=cfg.topics.replication_factor, config=s.config)
        for s in specs
        if s.name not in existing
    ]
    for name, fut in (admin.create_topics(new, operation_timeout=timeout_s) if new else {}).items():
        try:
            fut.result()
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
            outcome[name] = "exists"
    pending = [s for s in specs if s.name not in outcome]
    current = _topic_configs(admin, [s.name for s in pending]) if pending else {}
    for spec in pending:
        replicas = min(len(p.replicas) for p in existing[spec.name].partitions.values())
        have_isr = int(current[spec.name][MIN_INSYNC])
        wanted = {**spec.config, MIN_INSYNC: str(min_insync_to_apply(have_isr, int(spec.config[MIN_INSYNC]), replicas))}
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in wanted.items()
            if current[spec.name].get(k) != v
        ]
        if entries:
            resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
            for fut in admin.incremental_alter_configs([resource]).values():
                fut.result()
        notes = []
        have = len(existing[spec.name].partitions)
        if have < spec.partitions:
            notes.append(
                f"{have} partitions < configured {spec.partitions} (partitions are never reduced or "
                f"silently added: adding them would move users between partitions)"
            )
        if replicas < cfg.topics.replication_factor:
            notes.append(
                f"replication factor {replicas} < configured {cfg.topics.replication_factor} "
                f"(raise it with a partition reassignment)"
            )
        if wanted[MIN_INSYNC] != spec.config[MIN_INSYNC]:
            notes.append(
                f"min.insync.replicas {wanted[MIN_INSYNC]} (configured {spec.config[MIN_INSYNC]}; "
                f"never lowered, never above the replica count)"
            )
        outcome[spec.name] = "exists" + (f" with {'; '.join(notes)}" if notes else "")
    return outcome


def _topic_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Current configuration values of topics (broker defaults included)."""
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    futures = admin.describe_configs(resources)
    return {r.name: {k: e.value for k, e in fut.result().items()} for r, fut in futures.items()}


def delete_topics(cfg: KafkaConfig, names: list[str], timeout_s: float = 30.0) -> None:
    """Delete topics (tests and `hybridrec topics reset`); missing ones are ignored."""
    admin = admin_client(cfg)
    present = [n for n in names if n in admin.list_topics(timeout=timeout_s).topics]
    for fut in (admin.delete_topics(present, operation_timeout=timeout_s) if present else {}).values():
        fut.result()
