"""Archive compaction: the ETL reads the same events before and after, nothing is lost, late files stay."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from batch import compact, io
from hybridrec.contract import archive_table, partition_of

DAY = 86_400_000
T = io.as_of_end_ms(date(2023, 10, 30)) - DAY  # 2023-10-30 00:00 UTC


def _rows(prefix: str, times: list[int]) -> list[dict[str, object]]:
    return [
        {"event_id": f"{prefix}{k}", "user_id": "u", "item_id": str(k % 3), "event_type": "PLAY", "event_time_ms": t}
        for k, t in enumerate(times)
    ]


def _snapshot(spark: SparkSession, lake: Path, first: date, last: date) -> list[tuple]:
    df = io.read_archive(spark, lake, first, last)
    return sorted(tuple(r) for r in df.select("event_id", "event_time_ms", "event_date", "event_hour").collect())


def test_compaction_keeps_every_event_and_its_partition_values(spark: SparkSession, tmp_path: Path) -> None:
    times = [T + h * 3_600_000 + 17 for h in range(0, 24 * 6, 5)]  # 2023-10-30 .. 2023-11-04, many hours
    io.write_archive_table(archive_table(_rows("e", times)), tmp_path)
    # a redelivered copy filed under a later hour, and a Flink in-progress file that must not be touched
    d, h = partition_of(T + 30 * 3_600_000)
    hour_dir = io.archive_dir(tmp_path) / f"event_date={d}" / f"event_hour={h}"
    pq.write_table(archive_table(_rows("e", times[:1])), hour_dir / "redelivered.parquet")
    (hour_dir / ".part-x.inprogress").write_bytes(b"partial")
    before = _snapshot(spark, tmp_path, date(2023, 10, 29), date(2023, 11, 5))
    window = _snapshot(spark, tmp_path, date(2023, 10, 31), date(2023, 11, 2))

    report = compact.compact(tmp_path, until=date(2023, 11, 3))
    assert report.months == 2 and report.rows_out == len([t for t in times if t < T + 5 * DAY]) + 1
    assert (hour_dir / ".part-x.inprogress").exists()
    left = [f for f in io.archive_dir(tmp_path).rglob("*.parquet")]
    assert left and all("event_date=2023-11-04" in str(f) for f in left)  # after `until`: still hourly
    assert _snapshot(spark, tmp_path, date(2023, 10, 29), date(2023, 11, 5)) == before
    assert _snapshot(spark, tmp_path, date(2023, 10, 31), date(2023, 11, 2)) == window  # month files filtered

    # a late file for an already compacted day is read from the hourly tree, then merged by the next run
    late_t = T + 2 * DAY + 5
    d, h = partition_of(late_t)
    late_dir = io.archive_dir(tmp_path) / f"event_date={d}" / f"event_hour={h}"
    late_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(archive_table(_rows("late", [late_t])), late_dir / "late.parquet")
    with_late = _snapshot(spark, tmp_path, date(2023, 10, 29), date(2023, 11, 5))
    assert len(with_late) == len(before) + 1
    compact.compact(tmp_path, until=date(2023, 11, 3))
    assert _snapshot(spark, tmp_path, date(2023, 10, 29), date(2023, 11, 5)) == with_late
    assert len(list(compact.compacted_dir(tmp_path).glob("event_month=2023-11/*.parquet"))) == 1
