"""The speed layer's typed configuration: ``StreamingSettings`` is the shared :class:`Settings` plus a
``streaming`` section, overridable like every other field (``HYBRIDREC_STREAMING__PARALLELISM=2``).

Every window, decay and batching knob of the job lives here; the SQL and the JVM feature operator (through
``streaming/java_features.py``) read them from this object, never from constants.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hybridrec.config import Settings
from hybridrec_pb.events_pb2 import EventType

_ENGAGEMENT = ("PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS")


class StreamingConfig(BaseModel):
    """Knobs of the PyFlink job. Times are milliseconds unless the name says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- feature definitions
    recent_n: int = Field(20, ge=1, le=1000, description="length of recent_items")
    hidden_n: int = Field(50, ge=1, le=10_000, description="length of hidden_items (distinct HIDE items)")
    session_gap_ms: int = Field(30 * 60_000, ge=1, description="inactivity that closes a session")
    taste_half_life_ms: int = Field(3 * 86_400_000, ge=1, description="half-life of the decayed genre taste")
    counts_short_ms: int = Field(3_600_000, ge=1, description="window of counts_1h")
    counts_long_ms: int = Field(86_400_000, ge=1, description="window of counts_1d")
    trending_window_ms: int = Field(3_600_000, ge=1000, description="HOP window size of trending_1h")
    trending_slide_ms: int = Field(300_000, ge=1000, description="HOP window slide of trending_1h")
    engagement_types: tuple[str, ...] = Field(
        _ENGAGEMENT, description="event types that feed recent/session/taste and the item features; "
                                 "counts_1h/1d count every type")
    # --- event time
    max_out_of_orderness_ms: int = Field(2_000, ge=0, description="watermark delay; later events are late")
    micro_window_ms: int = Field(1_000, ge=10, description="event-time pre-aggregation window in the JVM")
    source_idle_timeout_ms: int = Field(
        60_000, ge=0, description="a partition silent this long stops holding back the watermark (0: never). "
                                  "Keep it above the longest backpressure stall: a partition marked idle while "
                                  "its backlog waits makes that backlog late")
    # --- online-store writes
    write_interval_ms: int = Field(500, ge=10, description="event time between online-store writes (the newest "
                                                          "snapshot of each entity is written)")
    write_batch_size: int = Field(2_000, ge=1, description="entities per Redis pipeline round trip; this many "
                                                           "waiting are written at once")
    # --- operation
    parallelism: int = Field(1, ge=1, le=64)
    checkpoint_interval_ms: int = Field(10_000, ge=100)
    checkpoint_dir: Path | None = Field(None, description="default: <data_dir>/flink/checkpoints")
    restore_from: Path | None = Field(None, description="checkpoint or savepoint directory to start from")
    group_id: str = "hybridrec-streaming"
    bounded: bool = Field(False, description="stop at the end offsets seen at start (tests, backfills)")
    catalog_refresh_ms: int = Field(60_000, ge=0, description="minimum time between catalog re-reads")
    metrics_port: str | None = Field(None, description="Prometheus reporter port or range, e.g. 9249-9259")
    rest_port: int | None = Field(None, ge=0, le=65535, description="REST/web port of the local MiniCluster "
                                                                     "(benchmarks sample busy time from it)")
    job_name: str = "hybridrec-speed-layer"
    flink_options: dict[str, str] = Field(
        default_factory=dict, description="extra Flink configuration, applied last (e.g. "
                                          "{\"pipeline.auto-watermark-interval\": \"100 ms\"})")
    # --- standalone session cluster from the pyflink distribution (`make flink-cluster`)
    cluster_host: str = "127.0.0.1"
    cluster_rest_port: int = Field(18081, ge=1, le=65535, description="JobManager REST (not 8081: Spark, others)")
    cluster_rpc_port: int = Field(16123, ge=1, le=65535)
    cluster_task_slots: int = Field(2, ge=1, le=64)
    cluster_taskmanager_memory: str = "2048m"
    cluster_jobmanager_memory: str = "1024m"

    @model_validator(mode="after")
    def _check(self) -> StreamingConfig:
        unknown = [t for t in self.engagement_types if t not in EventType.DESCRIPTOR.values_by_name
                   or t == "EVENT_TYPE_UNSPECIFIED"]
        if unknown:
            raise ValueError(f"unknown engagement_types {unknown}")
        if self.trending_window_ms % self.trending_slide_ms:
            raise ValueError("trending_window_ms must be a multiple of trending_slide_ms")
        if self.counts_short_ms > self.counts_long_ms:
            raise ValueError("counts_short_ms must not exceed counts_long_ms")
        return self

    @property
    def engagement_type_values(self) -> tuple[int, ...]:
        return tuple(EventType.Value(t) for t in self.engagement_types)


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
        return settings.model_copy(update={"streaming": settings.streaming.model_copy(update=streaming)}) \
            if streaming else settings
    fields = {name: getattr(base, name) for name in type(base).model_fields}
    # The shared Settings carry the streaming section untyped (a dict from the config file); validate it here.
    current = getattr(base, "streaming", None)
    known = current.model_dump() if isinstance(current, StreamingConfig) else dict(current or {})
    fields["streaming"] = StreamingConfig(**{**known, **streaming})
    return StreamingSettings(**fields)
