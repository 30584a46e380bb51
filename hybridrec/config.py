"""The one typed configuration shared by every deployable.

Precedence, lowest first: defaults here < the TOML file named by ``HYBRIDREC_CONFIG`` (see
``deploy/hybridrec.sample.toml``) < environment variables ``HYBRIDREC_<SECTION>__<FIELD>``, for example
``HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092``. Nothing else in the code base holds a host, port,
topic or path literal.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ROOT_SAMPLE_CONFIG = PROJECT_ROOT / "deploy" / "hybridrec.sample.toml"

DAY_MS = 24 * 3600 * 1000

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def with_section(config: ConfigT, section: str, **fields: Any) -> ConfigT:
    """``config`` with some fields of one section replaced, e.g. ``with_section(settings, "redis", port=p)``; a
    dotted ``section`` reaches a nested one (``"kafka.topics"``). The changed section is validated again, so a
    misspelt field or a wrong type fails here: ``model_copy(update=...)`` would keep either without a word.

    Works on any configuration model (:class:`Settings`, a deployable's settings, ``BatchConfig``); the section
    must be a model, not the shared settings' untyped dict of a deployable's own section.
    """
    head, _, rest = section.partition(".")
    current = getattr(config, head)
    if not isinstance(current, BaseModel):
        raise TypeError(f"{type(config).__name__}.{head} is {type(current).__name__}, not a configuration section")
    if rest:
        replaced = with_section(current, rest, **fields)
    else:
        replaced = type(current).model_validate({**dict(current), **fields})
    return config.model_copy(update={head: replaced})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicsConfig(_Section):
    """Kafka topic names and their explicit retention (no broker defaults are relied on)."""

    interactions: str = "interactions"
    dlq: str = "interactions.dlq"
    impressions: str = "impressions"
    catalog: str = "catalog"
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1)
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="replicas that must have a record before acks=all succeeds; default "
        "min(2, replication_factor). Raised on existing topics, never lowered",
    )
    interactions_retention_ms: int = Field(7 * DAY_MS, ge=-1)
    dlq_retention_ms: int = Field(30 * DAY_MS, ge=-1)
    impressions_retention_ms: int = Field(7 * DAY_MS, ge=-1)
    max_message_bytes: int = Field(1_048_576, ge=1024)

    @model_validator(mode="after")
    def _check_min_insync(self) -> TopicsConfig:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) exceeds replication_factor "
                f"({self.replication_factor}): every acks=all write would fail"
            )
        return self

    @property
    def effective_min_insync_replicas(self) -> int:
        """With one replica down, writes keep succeeding and each still reaches two brokers (when RF ≥ 3)."""
        return self.min_insync_replicas or min(2, self.replication_factor)


class ProducerConfig(_Section):
    """librdkafka producer tuning; acks=all and idempotence are not configurable on purpose."""

    linger_ms: int = Field(20, ge=0)
    batch_size: int = Field(1_000_000, ge=1)
    compression_type: Literal["none", "lz4", "zstd", "snappy", "gzip"] = "lz4"
    queue_buffering_max_messages: int = Field(1_000_000, ge=1)
    delivery_timeout_ms: int = Field(120_000, ge=1000)


class LocalClusterConfig(_Section):
    """`make kafka-cluster`: KRaft nodes on loopback, each a broker and a voter of the controller quorum, from the
    same Kafka distribution as `make up`. One node per (broker, controller) port pair."""

    host: str = "127.0.0.1"
    broker_ports: tuple[int, ...] = (19092, 19094, 19096)
    controller_ports: tuple[int, ...] = (19093, 19095, 19097)
    replication_factor: int = Field(3, ge=1, description="of the project's topics and Kafka's internal ones")
    heap: str = Field("512m", pattern=r"^[0-9]+[kmg]$", description="-Xmx of each node")

    @model_validator(mode="after")
    def _check(self) -> LocalClusterConfig:
        ports = [*self.broker_ports, *self.controller_ports]
        if len(self.broker_ports) != len(self.controller_ports) or not self.broker_ports:
            raise ValueError("local_cluster needs one controller port per broker port")
        if len(set(ports)) != len(ports) or not all(1 <= p <= 65535 for p in ports):
            raise ValueError(f"local_cluster ports must be distinct valid ports, got {ports}")
        if self.replication_factor > len(self.broker_ports):
            raise ValueError(f"replication_factor {self.replication_factor} > {len(self.broker_ports)} nodes")
        return self

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{p}" for p in self.broker_ports)


class KafkaConfig(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    controller_port: int = Field(9093, ge=1, le=65535)
    topics: TopicsConfig = TopicsConfig()
    producer: ProducerConfig = ProducerConfig()
    local_cluster: LocalClusterConfig = LocalClusterConfig()

    def on_local_cluster(self) -> KafkaConfig:
        """This configuration pointed at `make kafka-cluster` (its brokers and replication factor)."""
        c = self.local_cluster
        # validated again by with_section: min_insync_replicas must still fit
        on_cluster = with_section(self, "topics", replication_factor=c.replication_factor)
        return on_cluster.model_copy(update={"bootstrap_servers": c.bootstrap_servers})

    @property
    def broker_host(self) -> str:
        return self.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]

    @property
    def broker_port(self) -> int:
        return int(self.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


class RedisConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(6379, ge=1, le=65535)
    db: int = Field(0, ge=0)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


class ValidationConfig(_Section):
    """Edge validation of interaction events; a record failing any rule goes to the DLQ with its reason."""

    max_payload_bytes: int = Field(16_384, ge=64)
    max_future_skew_s: int = Field(300, ge=0)
    min_event_time_ms: int = Field(631_152_000_000, description="1990-01-01: older timestamps are bogus")
    max_id_length: int = Field(128, ge=1)


class PathsConfig(_Section):
    """Where the project keeps downloaded jars, service state and data (all project-local by default)."""

    deps_dir: Path = PROJECT_ROOT / ".deps"
    run_dir: Path = PROJECT_ROOT / ".run"
    data_dir: Path = PROJECT_ROOT / "data"
    datasets_dir: Path = PROJECT_ROOT.parent / "shared" / "datasets"
    datasets_url: str = Field(
        "https://files.grouplens.org/datasets/movielens",
        description="where `hybridrec download` fetches <name>.zip (a mirror may stand in)",
    )
    min_free_disk_mb: int = Field(
        1024,
        ge=0,
        description="`make up` refuses to start a service with less free "
        "space under run_dir: a broker whose log dir fills up stops",
    )

    registry_dir: Path | None = Field(None, description="model registry root; default <data_dir>/registry")

    @property
    def registry_root(self) -> Path:
        """Where batch publishes model versions and serving watches for promotions."""
        return self.registry_dir or self.data_dir / "registry"

    @property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"


class FeastConfig(_Section):
    """Feature-store settings; the online store is the Redis of ``RedisConfig``."""

    project: str = Field("hybridrec", pattern=r"^[A-Za-z0-9_]+$")
    registry_path: Path | None = Field(None, description="default: <data_dir>/feast/registry.db")


class SyntheticConfig(_Section):
    """Shape of the seeded synthetic world used by tests and scale runs."""

    seed: int = 42
    n_users: int = Field(10_000, ge=1)
    n_items: int = Field(5_000, ge=1)
    n_genres: int = Field(18, ge=1, le=64)
    popularity_exponent: float = Field(1.1, gt=0)
    session_gap_s: int = Field(1800, ge=1)
    mean_session_events: float = Field(8.0, gt=0)
    taste_drift: float = Field(0.05, ge=0, le=1)
    start_time_ms: int = 1_700_000_000_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRIDREC_", env_nested_delimiter="__", extra="forbid", frozen=True)

    kafka: KafkaConfig = KafkaConfig()
    redis: RedisConfig = RedisConfig()
    validation: ValidationConfig = ValidationConfig()
    paths: PathsConfig = PathsConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    feast: FeastConfig = FeastConfig()
    # Sections owned by one deployable each, validated by that deployable's settings class (streaming,
    # batch, serving config modules). Accepted here untyped so one config file can serve every deployable.
    streaming: dict[str, Any] = Field(default_factory=dict)
    batch: dict[str, Any] = Field(default_factory=dict)
    serving: dict[str, Any] = Field(default_factory=dict)
    environment: Literal["local", "cluster"] = "local"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("HYBRIDREC_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _check_ports_distinct(self) -> Settings:
        ports = [self.kafka.broker_port, self.kafka.controller_port, self.redis.port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"Kafka broker, Kafka controller and Redis ports must differ, got {ports}")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, validated once at start-up."""
    return Settings()
