"""The speed layer's typed configuration: ``StreamingSettings`` is the shared :class:`Settings` plus a
``streaming`` section, overridable like every other field (``HYBRIDREC_STREAMING__PARALLELISM=2``).

Every freshness, ordering, batching and operation knob of the job lives here; the SQL and the JVM operators
(through ``streaming/java_features.py``) read them from this object, never from constants. The feature
definitions themselves are ``hybridrec/fresh_features.py``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hybridrec.config import Settings, with_section


class StreamingConfig(BaseModel):
    """Knobs of the PyFlink job. Times are milliseconds unless the name says otherwise. What the fresh features are
    (windows, sizes, half-lives, event types) is declared in ``hybridrec/fresh_features.py``, not here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- freshness and order
    flush_interval_ms: int = Field(
        100,
        ge=0,
        description="processing time from an entity's change to its snapshot "
        "(changes within it are written once; 0: every event)",
    )
    allowed_lateness_ms: int = Field(
        3_600_000,
        ge=0,
        description="an event this far behind its user's newest event is still folded in, in "
        "event-time order; older ones are late: archived, counted, dead-lettered "
        "(views with an order-sensitive feature: the session)",
    )
    max_buffered_events: int = Field(
        1_000,
        ge=1,
        description="raw events kept per entity for re-folding late arrivals (beyond it the lateness bound tightens)",
    )
    max_out_of_orderness_ms: int = Field(
        2_000, ge=0, description="watermark delay: how long trending windows wait for stragglers before they move on"
    )
    source_idle_timeout_ms: int = Field(
        60_000,
        ge=0,
        description="a partition silent this long stops holding back the watermark (0: never); "
        "only trending windows wait on the watermark",
    )
    buffer_timeout_ms: int = Field(
        20,
        ge=0,
        description="longest wait of a record in a network buffer between operators (Flink's execution.buffer-timeout)",
    )
    # --- online-store writes
    write_batch_size: int = Field(
        2_000, ge=1, description="entities per Redis pipeline round trip; this many waiting are written at once"
    )
    write_retry_max_ms: int = Field(
        5_000,
        ge=100,
        description="longest wait between attempts while Redis is away (pending rows are kept and checkpointed)",
    )
    # --- operation
    parallelism: int = Field(1, ge=1, le=64)
    local_heap_mb: int | None = Field(
        None,
        ge=256,
        description="maximum heap of the local job's JVM (the MiniCluster of `make stream`; its hashmap state "
        "backend keeps all keyed state there); unset: the JVM's default, a quarter of RAM",
    )
    checkpoint_interval_ms: int = Field(10_000, ge=100)
    checkpoint_dir: Path | None = Field(None, description="default: <data_dir>/flink/checkpoints")
    restore_from: Path | None = Field(
        None,
        description="checkpoint or savepoint to start from (default: the newest of the job's own, unless start_empty)",
    )
    start_empty: bool = Field(False, description="start with no state even when a checkpoint or savepoint exists")
    group_id: str = "hybridrec-streaming"
    bounded: bool = Field(False, description="stop at the end offsets seen at start (tests, backfills)")
    catalog_refresh_ms: int = Field(60_000, ge=0, description="minimum time between catalog re-reads")
    metrics_port: str | None = Field(None, description="Prometheus reporter port or range, e.g. 9249-9259")
    rest_port: int | None = Field(
        None, ge=0, le=65535, description="REST/web port of the local MiniCluster (benchmarks sample busy time from it)"
    )
    job_name: str = "hybridrec-speed-layer"
    flink_options: dict[str, str] = Field(
        default_factory=dict,
        description='extra Flink configuration, applied last (e.g. {"pipeline.auto-watermark-interval": "100 ms"})',
    )
    # --- standalone session cluster from the pyflink distribution (`make flink-cluster`)
    cluster_host: str = "127.0.0.1"
    cluster_rest_port: int = Field(18081, ge=1, le=65535, description="JobManager REST (not 8081: Spark, others)")
    cluster_rpc_port: int = Field(16123, ge=1, le=65535)
    cluster_task_slots: int = Field(2, ge=1, le=64)
    cluster_taskmanager_memory: str = "2048m"
    cluster_jobmanager_memory: str = "1024m"

    @model_validator(mode="after")
    def _check(self) -> StreamingConfig:
        if self.start_empty and self.restore_from is not None:
            raise ValueError("start_empty and restore_from exclude each other")
        return self


class StreamingSettings(Settings):
    """Shared settings plus the speed layer's own section (``HYBRIDREC_STREAMING__<FIELD>``)."""

    streaming: StreamingConfig = StreamingConfig()

    @property
    def checkpoint_dir(self) -> Path:
        return self.streaming.checkpoint_dir or self.paths.data_dir / "flink" / "checkpoints"

    @property
    def flink_tmp_root(self) -> Path:
        """Flink's and its JVM's scratch files (``io.tmp.dirs``, ``java.io.tmpdir``), one sub-directory a process."""
        return self.paths.data_dir / "flink" / "tmp"

    @property
    def archive_dir(self) -> Path:
        from hybridrec.contract import ARCHIVE_SUBDIR

        return self.paths.lake_dir / ARCHIVE_SUBDIR


def streaming_settings(base: Settings | None = None, **streaming: object) -> StreamingSettings:
    """StreamingSettings from the environment, or built on ``base`` (tests pass isolated settings)."""
    if base is None:
        settings = StreamingSettings()
        return with_section(settings, "streaming", **streaming) if streaming else settings
    fields = {name: getattr(base, name) for name in type(base).model_fields}
    # The shared Settings carry the streaming section untyped (a dict from the config file); validate it here.
    current = getattr(base, "streaming", None)
    known = current.model_dump() if isinstance(current, StreamingConfig) else dict(current or {})
    fields["streaming"] = StreamingConfig(**{**known, **streaming})
    return StreamingSettings(**fields)
