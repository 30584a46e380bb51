"""Configuration precedence: defaults < TOML file < environment, validated at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from hybridrec.config import ROOT_SAMPLE_CONFIG, Settings


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
