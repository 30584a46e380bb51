"""Reading the archive: partitions of the window, late copies filed under their arrival hour, dedupe."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from batch import io
from batch import transforms as tr
from hybridrec.contract import archive_table, partition_of

DAY = 86_400_000
T = io.as_of_end_ms(date(2023, 11, 14)) - DAY + 3_600_000  # 2023-11-14 01:00 UTC


def test_window_late_arrivals_and_duplicates(spark: SparkSession, tmp_path: Path) -> None:
    rows = [
        {"event_id": "before", "user_id": "u", "item_id": "a", "event_type": "PLAY", "event_time_ms": T - 2 * DAY},
        {"event_id": "in", "user_id": "u", "item_id": "a", "event_type": "PLAY", "event_time_ms": T},
        {"event_id": "dup", "user_id": "u", "item_id": "b", "event_type": "CLICK", "event_time_ms": T + 1000},
        {"event_id": "after", "user_id": "u", "item_id": "c", "event_type": "PLAY", "event_time_ms": T + 2 * DAY},
    ]
    io.write_archive_table(archive_table(rows), tmp_path)
    # A late event of the window and a redelivered copy of "dup", filed under the next day's arrival hour,
    # as an archiver partitioning by processing time would do.
    late = archive_table(
        [
            {
                "event_id": "late",
                "user_id": "v",
                "item_id": "a",
                "event_type": "RATING",
                "value": 4.0,
                "event_time_ms": T + 5000,
            },
            {"event_id": "dup", "user_id": "u", "item_id": "b", "event_type": "CLICK", "event_time_ms": T + 1000},
        ]
    )
    d, h = partition_of(T + DAY)
    target = io.archive_dir(tmp_path) / f"event_date={d}" / f"event_hour={h}"
    target.mkdir(parents=True)
    pq.write_table(late, target / "late.parquet")

    raw = io.read_archive(spark, tmp_path, date(2023, 11, 14), date(2023, 11, 15))
    start, end = io.as_of_end_ms(date(2023, 11, 13)), io.as_of_end_ms(date(2023, 11, 14))
    got = sorted(r["event_id"] for r in tr.clean_events(raw, start, end, ("PLAY", "CLICK", "RATING")).collect())
    assert got == ["dup", "in", "late"]
    # without the late partition the late event is missed: the extra day read is what catches it
    raw_no_late = io.read_archive(spark, tmp_path, date(2023, 11, 14), date(2023, 11, 14))
    assert "late" not in {r["event_id"] for r in raw_no_late.collect()}
