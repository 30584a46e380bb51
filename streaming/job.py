"""The speed-layer job: environment, source, functions and sinks wired in one place.

``build_pipeline`` takes the names of the registered source and sink tables, so the same pipeline runs on Kafka
in production and on any other table in a test; ``run`` registers the real connectors and executes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from pyflink.common import Configuration, JobClient
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from hybridrec import fresh_features
from hybridrec.processes import pid_alive
from streaming import java_features, jvm, sql
from streaming.config import StreamingSettings

STREAM_JAR = "streaming/hybridrec-streaming.jar"
"""The job's own operators (the Maven module ``streaming/java``, built by `make stream-jar`), under ``deps_dir``."""


def jars(settings: StreamingSettings) -> list[Path]:
    """Connector, Parquet, Hadoop and Jedis jars fetched by `make jars`, and the job's jar of `make stream-jar`."""
    deps = settings.paths.deps_dir
    found = sorted((deps / "flink").glob("*.jar"))
    own = deps / STREAM_JAR
    missing = [] if own.exists() else [f"{own} (run `make stream-jar`)"]
    if not all(any(name in p.name for p in found) for name in ("kafka", "parquet", "jedis")):
        missing.append(f"connector/parquet/jedis jars in {deps / 'flink'} (run `make jars`)")
    if missing:
        raise FileNotFoundError("missing: " + "; ".join(missing))
    return [*found, own]


def reporter_jars() -> list[Path]:
    """The Prometheus reporter of the pyflink distribution. A session cluster loads it from its plugins/ dir;
    the local MiniCluster does not load plugins, so the job puts the jar on its classpath instead."""
    import pyflink

    return sorted((Path(pyflink.__file__).parent / "plugins" / "metrics-prometheus").glob("*.jar"))


def scratch_dir(settings: StreamingSettings) -> Path:
    """This process's Flink scratch directory, created after sweeping those of processes that are gone.

    A local job extracts ~70 MB of jars, blobs and Python environments into ``io.tmp.dirs`` and
    ``java.io.tmpdir``; Flink deletes them on a clean exit, but a killed job leaves them: in ``/tmp`` they piled
    up (≈ 10 GB over a day of test runs on a disk that then filled, and the Kafka broker stopped). Here they stay
    under the data dir, and the next start removes what a dead process left.
    """
    root = settings.flink_tmp_root
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.iterdir():
        if stale.name.isdigit() and stale.name != str(os.getpid()) and not pid_alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    return mine


def flink_configuration(settings: StreamingSettings, tmp_dir: Path | None = None) -> Configuration:
    cfg = settings.streaming
    conf = Configuration()
    if tmp_dir is not None:
        conf.set_string("io.tmp.dirs", str(tmp_dir.resolve()))
    conf.set_string("pipeline.name", cfg.job_name)
    extra = reporter_jars() if cfg.metrics_port else []
    conf.set_string("pipeline.jars", ";".join(p.resolve().as_uri() for p in [*jars(settings), *extra]))
    conf.set_string("parallelism.default", str(cfg.parallelism))
    # Chained operators hand records over without a deep copy each (the copies were the source chain's biggest
    # cost). Safe: the SQL operators are written for reuse, and the Java operator and sink read each row at once
    # and keep no reference to it.
    conf.set_string("pipeline.object-reuse", "true")
    conf.set_string("execution.buffer-timeout", f"{cfg.buffer_timeout_ms} ms")
    conf.set_string("execution.checkpointing.interval", f"{cfg.checkpoint_interval_ms} ms")
    conf.set_string("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set_string("execution.checkpointing.dir", checkpoints_dir(settings).resolve().as_uri())
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set_string("execution.checkpointing.num-retained", "3")
    conf.set_string("state.backend.type", "hashmap")
    conf.set_string("table.local-time-zone", "UTC")
    conf.set_string("table.exec.source.idle-timeout", f"{cfg.source_idle_timeout_ms} ms")
    if cfg.rest_port is not None:
        conf.set_string("rest.port", str(cfg.rest_port))
    restore = restore_point(settings)
    if restore is not None:
        conf.set_string("execution.state-recovery.path", restore.resolve().as_uri())
        # State of operators that left the plan (SQL operators of an older version) is dropped; the keyed feature
        # state and the sink keep theirs by uid, and Kafka offsets are also committed to the consumer group.
        conf.set_string("execution.state-recovery.ignore-unclaimed-state", "true")
    if cfg.metrics_port:
        conf.set_string("metrics.reporter.prom.factory.class", jvm.PROMETHEUS_REPORTER)
        conf.set_string("metrics.reporter.prom.port", cfg.metrics_port)
    for key, value in cfg.flink_options.items():
        conf.set_string(key, value)
    return conf


def build_pipeline(
    t_env: StreamTableEnvironment, settings: StreamingSettings, *, source: str, archive: str, dlq: str, generation: int
) -> None:
    """Wire source table → decode → archive, DLQ, fresh features → Redis (adds a statement set)."""
    # One DataStream for every branch: each separately planned query on the source table would otherwise get its
    # own Kafka source (reading and decoding everything again). Still all JVM: no Python function touches it.
    decoded = t_env.to_data_stream(t_env.sql_query(sql.decoded(source, settings)))
    t_env.create_temporary_view(
        "hr_decoded",
        t_env.from_data_stream(
            decoded,
            Schema.new_builder()
            .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
            .watermark("rowtime", "SOURCE_WATERMARK()")
            .build(),
        ),
    )
    t_env.create_temporary_view("hr_events", t_env.sql_query(sql.valid_events("hr_decoded")))

    statements = t_env.create_statement_set()
    statements.add_insert_sql(sql.archive_insert(archive, "hr_events"))

    # Every fresh view in one keyed JVM operator, fed each event on arrival (FreshFeatures.java).
    spec = java_features.job_spec(settings, generation)
    entity_events = t_env.to_data_stream(t_env.sql_query(sql.entity_events("hr_events", fresh_features.VIEWS)))
    # Explicit uids: the keyed state restores from a savepoint by uid, so it must not change with the plan.
    snapshots = (
        java_features.fresh_features_operator(entity_events, spec).name("fresh-features").uid("user-item-features")
    )
    java_features.write_online_features(snapshots, spec).uid("write-online-features")

    t_env.create_temporary_view("hr_late", t_env.from_data_stream(java_features.late_events(snapshots)))
    t_env.create_temporary_view("hr_rejected", t_env.sql_query(sql.rejected("hr_decoded", "hr_late")))
    statements.add_insert_sql(sql.dlq_insert(dlq, "hr_rejected", settings))
    statements.attach_as_datastream()


def local_jvm_args(settings: StreamingSettings, tmp_dir: Path, inherited: str = "") -> str:
    """The local JVM's options: java.io.tmpdir (the planner's and compression codecs' extracted jars and libraries
    follow it, not io.tmp.dirs) and the maximum heap when ``local_heap_mb`` is set (soaks saw the JVM grow to
    the default quarter of RAM)."""
    args = [inherited.strip(), f"-Djava.io.tmpdir={tmp_dir.resolve()}"]
    if settings.streaming.local_heap_mb is not None:
        args.append(f"-Xmx{settings.streaming.local_heap_mb}m")
    return " ".join(a for a in args if a)


def create_environment(settings: StreamingSettings) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    tmp_dir = None
    if "PYFLINK_GATEWAY_PORT" not in os.environ:  # a local MiniCluster (under `flink run` the cluster's conf rules)
        tmp_dir = scratch_dir(settings)
        # Read when pyflink launches the local JVM (the first call below).
        os.environ["JVM_ARGS"] = local_jvm_args(settings, tmp_dir, os.environ.get("JVM_ARGS", ""))
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings, tmp_dir))
    t_env = StreamTableEnvironment.create(env)
    for name, cls in (("proto_event_time", jvm.PROTO_EVENT_TIME), ("proto_decode", jvm.PROTO_DECODE)):
        t_env.execute_sql(f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{cls}' LANGUAGE JAVA")
    return env, t_env


def run(settings: StreamingSettings, *, wait: bool = True) -> object:
    """Register the Kafka, Parquet and DLQ tables, build the pipeline and execute it (blocking by default)."""
    from hybridrec.feature_store import apply_definitions

    apply_definitions(settings)
    checkpoints_dir(settings).mkdir(parents=True, exist_ok=True)
    restore = restore_point(settings)
    generation = state_generation(settings, restore)
    print(f"restoring from {restore}" if restore else "starting with empty state", file=sys.stderr, flush=True)
    env, t_env = create_environment(settings)
    t_env.execute_sql(sql.kafka_source_ddl("hr_source", settings))
    t_env.execute_sql(sql.archive_sink_ddl("hr_archive", settings))
    t_env.execute_sql(sql.dlq_sink_ddl("hr_dlq", settings))
    build_pipeline(t_env, settings, source="hr_source", archive="hr_archive", dlq="hr_dlq", generation=generation)
    client = env.execute_async(settings.streaming.job_name)
    return wait_or_stop_with_savepoint(client, settings) if wait else client


def _state_key(settings: StreamingSettings) -> str:
    """Checkpoints and savepoints of one job identity (consumer group and topic) live apart from any other's, so a
    default restore never picks up another deployment's state."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{settings.streaming.group_id}@{settings.kafka.topics.interactions}")


def checkpoints_dir(settings: StreamingSettings) -> Path:
    """Where this job's checkpoints go (Flink adds ``<job id>/chk-<n>``)."""
    return settings.checkpoint_dir / _state_key(settings)


def savepoint_dir(settings: StreamingSettings) -> Path:
    return settings.checkpoint_dir.parent / "savepoints" / _state_key(settings)


def newest_saved_state(settings: StreamingSettings) -> Path | None:
    """The newest completed checkpoint (a ``chk-N`` holding ``_metadata``) or savepoint of this job, or None."""
    done = [
        p.parent
        for p in (*checkpoints_dir(settings).glob("*/chk-*/_metadata"), *savepoint_dir(settings).glob("*/_metadata"))
    ]
    return max(done, key=lambda p: p.joinpath("_metadata").stat().st_mtime) if done else None


def state_generation(settings: StreamingSettings, restore: Path | None) -> int:
    """The generation of the job's state, kept in its checkpoint directory: a start without state begins a new one
    (the time, so it is above every earlier one), a restore keeps it. The online-store writer lets a new generation
    overwrite what an older one wrote, and within one generation only more progress (so a replay is a no-op)."""
    marker = checkpoints_dir(settings) / "generation"
    if restore is not None and marker.exists():
        return int(marker.read_text())
    generation = 0 if restore is not None else int(time.time() * 1000)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(generation))
    return generation


def restore_point(settings: StreamingSettings) -> Path | None:
    """What the job starts from: ``restore_from`` when given, nothing with ``start_empty``, else the newest state of
    its own (a plain restart continues: features, hidden items and offsets as they were)."""
    cfg = settings.streaming
    if cfg.restore_from is not None:
        return cfg.restore_from
    return None if cfg.start_empty else newest_saved_state(settings)


def wait_or_stop_with_savepoint(client: JobClient, settings: StreamingSettings) -> object:
    """Block until the job ends. SIGTERM or SIGINT (Ctrl-C) stops it with a savepoint instead of killing it, and
    prints ``savepoint: <path>`` (restart with ``--restore-from <path>``): planned restarts lose no state."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    result = client.get_job_execution_result()
    while not result.done():
        if stop.wait(0.5):
            # pyflink 2.2's JobClient.stop_with_savepoint calls a Java signature that no longer exists.
            fmt = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
            path = client._j_job_client.stopWithSavepoint(False, savepoint_dir(settings).resolve().as_uri(), fmt).get()
            print(f"savepoint: {path}", file=sys.stderr, flush=True)
            return path
    return result.result()
