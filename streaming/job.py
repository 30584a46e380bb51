"""The speed-layer job: environment, source, functions and sinks wired in one place.

``build_pipeline`` takes the names of the registered source and sink tables, so the same pipeline runs on Kafka
in production and on any other table in a test; ``run`` registers the real connectors and executes.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from pyflink.common import Configuration, JobClient
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from streaming import java_features, sql
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
        if stale.name.isdigit() and stale.name != str(os.getpid()) and not _alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


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
    conf.set_string("execution.checkpointing.interval", f"{cfg.checkpoint_interval_ms} ms")
    conf.set_string("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set_string("execution.checkpointing.dir", settings.checkpoint_dir.resolve().as_uri())
    conf.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set_string("execution.checkpointing.num-retained", "3")
    conf.set_string("state.backend.type", "hashmap")
    conf.set_string("table.local-time-zone", "UTC")
    conf.set_string("table.exec.source.idle-timeout", f"{cfg.source_idle_timeout_ms} ms")
    if cfg.rest_port is not None:
        conf.set_string("rest.port", str(cfg.rest_port))
    if cfg.restore_from is not None:
        conf.set_string("execution.state-recovery.path", cfg.restore_from.resolve().as_uri())
    if cfg.metrics_port:
        conf.set_string("metrics.reporter.prom.factory.class",
                        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
        conf.set_string("metrics.reporter.prom.port", cfg.metrics_port)
    for key, value in cfg.flink_options.items():
        conf.set_string(key, value)
    return conf


def build_pipeline(t_env: StreamTableEnvironment, settings: StreamingSettings, *, source: str, archive: str,
                   dlq: str) -> None:
    """Wire source table → decode → archive, DLQ, user/item features → Redis (adds a statement set)."""
    # One DataStream for every branch: each separately planned query on the source table would otherwise get its
    # own Kafka source (reading and decoding everything again). Still all JVM: no Python function touches it.
    decoded = t_env.to_data_stream(t_env.sql_query(sql.decoded(source, settings)))
    t_env.create_temporary_view("hr_decoded", t_env.from_data_stream(decoded, Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()").build()))
    t_env.create_temporary_view("hr_events", t_env.sql_query(sql.valid_events("hr_decoded")))

    statements = t_env.create_statement_set()
    statements.add_insert_sql(sql.archive_insert(archive, "hr_events"))
    statements.add_insert_sql(sql.dlq_insert(dlq, "hr_decoded", settings))

    t_env.create_temporary_view("hr_engaged", t_env.sql_query(sql.engaged_events("hr_events", settings)))
    entity_sql = sql.entity_batches(sql.user_batches("hr_events", settings),
                                    sql.item_batches("hr_engaged", settings))
    # Per-user and per-item state in the JVM (EntityFeatures.java): no Python on the per-key path.
    spec = java_features.job_spec(settings)
    # Explicit uids: the keyed state restores from a savepoint by uid, so it must not change with the plan.
    snapshots = java_features.entity_features(t_env.to_data_stream(t_env.sql_query(entity_sql)), spec) \
        .name("user-item-features").uid("user-item-features")
    java_features.write_online_features(snapshots, spec).uid("write-online-features")
    statements.attach_as_datastream()


def create_environment(settings: StreamingSettings) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    tmp_dir = None
    if "PYFLINK_GATEWAY_PORT" not in os.environ:  # a local MiniCluster (under `flink run` the cluster's conf rules)
        tmp_dir = scratch_dir(settings)
        # Read when pyflink launches the local JVM (the first call below): the planner's and compression codecs'
        # extracted jars and libraries follow java.io.tmpdir, not io.tmp.dirs.
        os.environ["JVM_ARGS"] = f"{os.environ.get('JVM_ARGS', '')} -Djava.io.tmpdir={tmp_dir.resolve()}".strip()
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings, tmp_dir))
    t_env = StreamTableEnvironment.create(env)
    for name, cls in (("proto_event_time", sql.UDF_CLASS), ("proto_decode", sql.DECODE_CLASS)):
        t_env.execute_sql(f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{cls}' LANGUAGE JAVA")
    return env, t_env


def run(settings: StreamingSettings, *, wait: bool = True) -> object:
    """Register the Kafka, Parquet and DLQ tables, build the pipeline and execute it (blocking by default)."""
    from hybridrec.feature_store import apply_definitions

    apply_definitions(settings)
    settings.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    env, t_env = create_environment(settings)
    t_env.execute_sql(sql.kafka_source_ddl("hr_source", settings))
    t_env.execute_sql(sql.archive_sink_ddl("hr_archive", settings))
    t_env.execute_sql(sql.dlq_sink_ddl("hr_dlq", settings))
    build_pipeline(t_env, settings, source="hr_source", archive="hr_archive", dlq="hr_dlq")
    client = env.execute_async(settings.streaming.job_name)
    return wait_or_stop_with_savepoint(client, settings) if wait else client


def savepoint_dir(settings: StreamingSettings) -> Path:
    return settings.checkpoint_dir.parent / "savepoints"


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
            path = client._j_job_client.stopWithSavepoint(
                False, savepoint_dir(settings).resolve().as_uri(), fmt).get()
            print(f"savepoint: {path}", file=sys.stderr, flush=True)
            return path
    return result.result()
