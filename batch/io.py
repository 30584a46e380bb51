"""Reads and writes of the batch layer: the Spark session, the event archive, the catalog snapshot, the
clean tables and the Feast offline tables. Everything here touches storage; the logic is in transforms.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.compact import compacted_dir
from batch.config import SparkConfig
from hybridrec.catalog import catalog_snapshot_path
from hybridrec.contract import ARCHIVE_SCHEMA, ARCHIVE_SUBDIR, archive_table
from hybridrec.datasets.model import Interaction
from hybridrec.fresh_spec import SNAPSHOT_FOLD, features_jar

_CHUNK = 200_000


def spark_session(cfg: SparkConfig, deps_dir: Path) -> SparkSession:
    """The one session of a run (or of a test session); UTC everywhere so dates mean the same on all hosts.
    ``master = "inherit"`` keeps the master that ``spark-submit`` chose (which must then be given the features jar
    with ``--jars``). The features jar under ``deps_dir`` is on the classpath: training's fresh features are folded by
    the speed layer's own code (``batch.transforms.fresh_fold``)."""
    jar = features_jar(deps_dir)
    # PySpark's SparkContext takes its workers' interpreter from PYSPARK_PYTHON only (default `python3` from
    # PATH, which lacks numpy/pyarrow); the spark.pyspark.python setting below covers spark-submit.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder if cfg.master == "inherit" else SparkSession.builder.master(cfg.master)
    builder = (
        builder.appName(cfg.app_name)
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.default.parallelism", str(cfg.shuffle_partitions))
        .config("spark.ui.enabled", str(cfg.ui_enabled).lower())
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Python workers run the project's interpreter (its venv), not whatever `python3` is on PATH.
        .config("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", sys.executable))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.executor.memory", cfg.executor_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
        # list many partition folders in a few tasks, not one task per folder
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", str(cfg.shuffle_partitions))
    )
    extra = dict(cfg.extra)
    jars = [str(jar), *filter(None, extra.pop("spark.jars", "").split(","))]
    builder = builder.config("spark.jars", ",".join(jars))
    for key, value in extra.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _require_class(spark, SNAPSHOT_FOLD, jar)
    return spark


def _require_class(spark: SparkSession, name: str, jar: Path) -> None:
    """A session that already ran (one JVM keeps its first classpath) or one spark-submit started without the jar
    fails here with what to do, not at the first query with a bare ClassNotFoundException."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.java.lang.Class.forName(name, False, jvm.Thread.currentThread().getContextClassLoader())
    except Exception as e:  # py4j wraps the ClassNotFoundException
        raise RuntimeError(
            f"{name} is not on Spark's classpath: give spark-submit `--jars {jar}` (built by `make features-jar`)"
        ) from e


# --- archive -------------------------------------------------------------------------------------------


def archive_dir(lake_dir: Path) -> Path:
    return lake_dir / ARCHIVE_SUBDIR


def _rows(chunk: Iterable[Interaction]) -> list[dict[str, object]]:
    return [
        {
            "event_id": e.event_id,
            "user_id": e.user_id,
            "item_id": e.item_id,
            "event_type": e.event_type,
            "value": e.value,
            "event_time_ms": e.event_time_ms,
            "surface": e.surface,
            "position": e.position,
            "device": e.device,
            "country": e.country,
        }
        for e in chunk
    ]


def _with_partitions(table: pa.Table) -> pa.Table:
    ts = pc.cast(table["event_time_ms"], pa.timestamp("ms", tz="UTC"))
    dates = pc.strftime(ts, format="%Y-%m-%d")
    hours = pc.strftime(ts, format="%H")
    return table.append_column("event_date", dates).append_column("event_hour", hours)


def write_archive_table(table: pa.Table, lake_dir: Path) -> None:
    """Append an archive-schema table under Hive partitions, as the Flink archiver does (tests, loaders)."""
    part_schema = pa.schema([("event_date", pa.string()), ("event_hour", pa.string())])
    pads.write_dataset(
        _with_partitions(table),
        archive_dir(lake_dir),
        format="parquet",
        partitioning=pads.partitioning(part_schema, flavor="hive"),
        basename_template=f"part-{uuid.uuid4().hex}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_partitions=1 << 20,
    )


def write_archive(events: Iterable[Interaction], lake_dir: Path) -> int:
    """Load a dataset's interactions into the archive (in chunks, so memory stays flat); returns the count."""
    it: Iterator[Interaction] = iter(events)
    n = 0
    while chunk := list(islice(it, _CHUNK)):
        write_archive_table(archive_table(_rows(chunk)), lake_dir)
        n += len(chunk)
    return n


def _dates(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def read_archive(spark: SparkSession, lake_dir: Path, first_day: date, last_day: date) -> DataFrame:
    """Archive events of ``[first_day, last_day]`` with the contract schema (partition columns kept, so dedupe
    can prefer the copy filed first), from both trees: the hourly files the speed layer writes and the
    monthly files of :mod:`batch.compact`. Only existing partition folders are listed, so a long window over
    a sparse archive does not pay for thousands of empty days."""
    schema = ", ".join(f"{f.name} {_spark_type(f.type)}" for f in ARCHIVE_SCHEMA)
    schema += ", event_date string, event_hour string"
    parts = [
        df
        for df in (
            _read_hourly(spark, lake_dir, first_day, last_day, schema),
            _read_compacted(spark, lake_dir, first_day, last_day, schema),
        )
        if df is not None
    ]
    if not parts:
        return spark.createDataFrame([], schema)
    return parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])


def _read_hourly(spark: SparkSession, lake_dir: Path, first_day: date, last_day: date, schema: str) -> DataFrame | None:
    root = archive_dir(lake_dir)
    wanted = set(_dates(first_day, last_day))
    present = list(root.glob("event_date=*")) if root.exists() else []
    paths = sorted(str(p) for p in present if p.name.split("=", 1)[1] in wanted and any(p.glob("event_hour=*/*")))
    if not paths:
        return None
    reader = spark.read.schema(schema).option("basePath", str(root))
    if len(paths) == len(present):  # the window covers the archive: one root, listed once on the driver
        return reader.parquet(str(root))
    return reader.parquet(*paths)


def _read_compacted(
    spark: SparkSession, lake_dir: Path, first_day: date, last_day: date, schema: str
) -> DataFrame | None:
    root = compacted_dir(lake_dir)
    lo, hi = first_day.isoformat()[:7], last_day.isoformat()[:7]
    paths = sorted(
        str(p)
        for p in root.glob("event_month=*")
        if lo <= p.name.split("=", 1)[1] <= hi
        and any(f.is_file() and not f.name.startswith((".", "_")) for f in p.iterdir())
    )
    if not paths:
        return None
    df = spark.read.schema(schema + ", event_month string").option("basePath", str(root)).parquet(*paths)
    return df.filter(F.col("event_date").between(first_day.isoformat(), last_day.isoformat())).drop("event_month")


def _spark_type(t: pa.DataType) -> str:
    return {pa.string(): "string", pa.float64(): "double", pa.int64(): "bigint", pa.int32(): "int"}[t]


# --- catalog -------------------------------------------------------------------------------------------


def read_catalog(spark: SparkSession, lake_dir: Path) -> DataFrame:
    return spark.read.parquet(str(catalog_snapshot_path(lake_dir)))


# --- outputs -------------------------------------------------------------------------------------------


def write_parquet_atomic(df: DataFrame, target: Path) -> Path:
    """Write a Spark frame as a Parquet directory next to ``target`` and swap it in by rename, so readers
    (Feast materialization, serving) see the old table or the new one, never a partial one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    df.write.mode("overwrite").parquet(str(tmp))
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def as_of_end_ms(as_of: date) -> int:
    """End of the ``as_of`` day (UTC), exclusive: the run sees every event of that day."""
    return int(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp() * 1000) + 86_400_000


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def features_dir(lake_dir: Path, view: str) -> Path:
    return lake_dir / "features" / view


def with_column_order(df: DataFrame, columns: list[str]) -> DataFrame:
    return df.select(*[F.col(c) for c in columns])
