"""`make kafka-cluster` as configuration: the nodes' properties, the environment that points hybridrec at the
cluster, and the checks of ``kafka.local_cluster`` (the cluster itself runs in tests/chaos)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hybridrec.config import KafkaConfig, LocalClusterConfig, PathsConfig, Settings, TopicsConfig
from tests.helpers import load_local_services

local_services = load_local_services()


def _settings(tmp_path: Path, **cluster: object) -> Settings:
    return Settings(
        kafka=KafkaConfig(local_cluster=LocalClusterConfig(**cluster)), paths=PathsConfig(run_dir=tmp_path / "run")
    )


def test_three_combined_nodes_form_one_static_quorum(tmp_path: Path) -> None:
    settings = _settings(tmp_path, broker_ports=(29092, 29094, 29096), controller_ports=(29093, 29095, 29097))
    nodes = local_services.kafka_cluster(settings)
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [n.ports for n in nodes] == [(29092, 29093), (29094, 29095), (29096, 29097)]
    assert len({n.state_dir for n in nodes}) == 3 and all(n.state_dir.parent.name == "kafka-cluster" for n in nodes)
    props = dict(
        line.split("=", 1)
        for line in local_services._node_properties(
            2,
            "127.0.0.1",
            29094,
            29095,
            "controller.quorum.voters=1@h:1,2@h:2,3@h:3",
            tmp_path,
            4,
            1_048_576,
            replicas=3,
        ).splitlines()
        if "=" in line
    )
    assert props["node.id"] == "2" and props["process.roles"] == "broker,controller"
    assert props["offsets.topic.replication.factor"] == "3" and props["transaction.state.log.min.isr"] == "2"
    assert props["default.replication.factor"] == "3" and props["min.insync.replicas"] == "2"


def test_cluster_env_points_at_the_nodes_with_their_replication(tmp_path: Path) -> None:
    settings = _settings(tmp_path, broker_ports=(1, 2, 3), controller_ports=(4, 5, 6), replication_factor=2)
    assert local_services.cluster_env(settings) == (
        "HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:1,127.0.0.1:2,"
        "127.0.0.1:3 HYBRIDREC_KAFKA__TOPICS__REPLICATION_FACTOR=2"
    )
    on = settings.kafka.on_local_cluster()
    assert on.topics.replication_factor == 2 and on.topics.effective_min_insync_replicas == 2


def test_bad_cluster_settings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="one controller port per broker port"):
        LocalClusterConfig(broker_ports=(1, 2, 3), controller_ports=(4, 5))
    with pytest.raises(ValidationError, match="distinct"):
        LocalClusterConfig(broker_ports=(1, 2, 3), controller_ports=(3, 4, 5))
    with pytest.raises(ValidationError, match="replication_factor 4 > 3 nodes"):
        LocalClusterConfig(replication_factor=4)
    single = LocalClusterConfig(broker_ports=(1,), controller_ports=(2,), replication_factor=1)
    kafka = KafkaConfig(topics=TopicsConfig(replication_factor=3, min_insync_replicas=3), local_cluster=single)
    with pytest.raises(ValidationError, match="exceeds replication_factor"):
        kafka.on_local_cluster()
