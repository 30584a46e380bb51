"""Configuration precedence: defaults < TOML file < environment, validated at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from hybridrec.config import ROOT_SAMPLE_CONFIG, Settings, with_section


def test_env_overrides_file_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "hybridrec.toml"
    cfg.write_text(
        '[kafka]\nbootstrap_servers = "127.0.0.1:19092"\n[kafka.topics]\npartitions = 8\n[redis]\nport = 16379\n'
    )
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(cfg))
    monkeypatch.setenv("HYBRIDREC_REDIS__PORT", "26379")
    settings = Settings()
    assert settings.kafka.broker_port == 19092
    assert settings.kafka.topics.partitions == 8
    assert settings.kafka.topics.interactions == "interactions"
    assert settings.redis.port == 26379


def test_unknown_keys_and_bad_values_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[kafka]\nbootstrap_server = 'typo:9092'\n")
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(cfg))
    with pytest.raises(ValidationError, match="bootstrap_server"):
        Settings()
    monkeypatch.delenv("HYBRIDREC_CONFIG")
    monkeypatch.setenv("HYBRIDREC_KAFKA__TOPICS__PARTITIONS", "0")
    with pytest.raises(ValidationError, match="partitions"):
        Settings()


def test_ports_must_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDREC_REDIS__PORT", "9092")
    with pytest.raises(ValidationError, match="must differ"):
        Settings()


@pytest.fixture(autouse=True)
def _no_caller_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests define the whole environment themselves (CI may run with HYBRIDREC_* ports set)."""
    for key in [k for k in os.environ if k.startswith("HYBRIDREC_")]:
        monkeypatch.delenv(key)


def test_documented_sample_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample documents the defaults: loading it must change nothing."""
    defaults = Settings()
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(ROOT_SAMPLE_CONFIG))
    assert Settings() == defaults


def test_one_file_serves_every_deployable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sections owned by a deployable pass through the base settings, and that deployable validates them."""
    from serving.config import ServingSettings

    cfg = tmp_path / "all.toml"
    cfg.write_text("[redis]\nport = 16400\n[serving]\nport = 50123\n[batch]\nwhatever = 1\n")
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(cfg))
    assert Settings().redis.port == 16400
    assert ServingSettings().serving.port == 50123
    cfg.write_text("[serving]\nprot = 50123\n")
    with pytest.raises(ValidationError, match="prot"):
        ServingSettings()


def test_with_section_replaces_only_the_named_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_CONFIG", raising=False)
    base = Settings()
    moved = with_section(base, "redis", port=16380)
    assert moved.redis.port == 16380
    assert (moved.redis.host, moved.redis.db) == (base.redis.host, base.redis.db)
    assert moved.kafka == base.kafka and moved.paths == base.paths
    assert base.redis.port == 6379, "the original is left as it was"
    assert isinstance(moved, Settings)


def test_with_section_reaches_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_CONFIG", raising=False)
    base = Settings()
    renamed = with_section(base, "kafka.topics", interactions="x.interactions", partitions=2)
    assert (renamed.kafka.topics.interactions, renamed.kafka.topics.partitions) == ("x.interactions", 2)
    assert renamed.kafka.topics.dlq == base.kafka.topics.dlq
    assert renamed.kafka.bootstrap_servers == base.kafka.bootstrap_servers
    cluster = with_section(
        base, "kafka.local_cluster", broker_ports=(29092,), controller_ports=(29093,), replication_factor=1
    )
    assert cluster.kafka.local_cluster.bootstrap_servers == "127.0.0.1:29092"
    assert cluster.kafka.topics == base.kafka.topics


def test_with_section_works_on_each_deployables_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from batch.config import BatchConfig, load_batch_config
    from streaming.config import StreamingSettings

    monkeypatch.delenv("HYBRIDREC_CONFIG", raising=False)
    batch = load_batch_config()
    remote = with_section(batch, "spark", master="spark://127.0.0.1:17077")
    assert isinstance(remote, BatchConfig)
    assert remote.spark.master == "spark://127.0.0.1:17077"
    assert remote.spark.shuffle_partitions == batch.spark.shuffle_partitions and remote.als == batch.als
    restored = with_section(StreamingSettings(), "streaming", restore_from="/tmp/savepoint-1")
    assert restored.streaming.restore_from == Path("/tmp/savepoint-1"), "the section is validated (str -> Path)"


def test_with_section_refuses_typos_bad_values_and_untyped_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_CONFIG", raising=False)
    base = Settings()
    with pytest.raises(ValidationError, match="prot"):
        with_section(base, "redis", prot=1)
    with pytest.raises(ValidationError, match="partitions"):
        with_section(base, "kafka.topics", partitions=0)
    with pytest.raises(ValidationError, match="min_insync_replicas"):
        with_section(base, "kafka.topics", min_insync_replicas=3)  # the section's own validator runs
    with pytest.raises(TypeError, match="streaming is dict"):
        with_section(base, "streaming", parallelism=2)
    with pytest.raises(AttributeError):
        with_section(base, "kafak", bootstrap_servers="x:1")
