"""Archive compaction: move finished hourly Parquet files of the event archive into one file per month.

Why: the speed layer files events under ``event_date=YYYY-MM-DD/event_hour=HH`` (the contract of
``hybridrec.contract``), which for a long history means tens of thousands of tiny files (ml-latest-small:
22 years, ~20k hourly files), and opening them dominated the nightly ETL. Compaction rewrites a month's
hourly files (plus its earlier compacted file, if any) into ``<lake>/events_compacted/event_month=YYYY-MM/``
as one file; the rows keep their ``event_date``/``event_hour`` values as ordinary columns, so the ETL's
dedupe ("the copy filed first wins") sees exactly what it would have seen in the hourly tree.

Never loses an event, whatever the crash point: the new monthly file is written under a hidden name and
renamed into place before the files it replaces are deleted (a crash in between leaves duplicates, which
the ETL's dedupe by ``event_id`` removes; the next compaction merges them). Only committed files are
taken (the Flink sink's in-progress files are hidden, ``.``/``_`` prefixed), and only the files listed at
the start are deleted, so a late file committed meanwhile stays in the hourly tree and is read from there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from hybridrec.contract import ARCHIVE_SCHEMA, ARCHIVE_SUBDIR

log = logging.getLogger("hybridrec.batch.compact")

COMPACTED_SUBDIR = "events_compacted"
READ_THREADS = 4  # file opens overlap; more threads than cores because much of the time is waiting on the fs
COMPACTED_SCHEMA = ARCHIVE_SCHEMA.append(pa.field("event_date", pa.string())).append(
    pa.field("event_hour", pa.string())
)


@dataclass(frozen=True)
class CompactionReport:
    months: int
    files_in: int
    rows_out: int

    def as_dict(self) -> dict[str, int]:
        return {"months": self.months, "files_in": self.files_in, "rows_out": self.rows_out}


def compacted_dir(lake_dir: Path) -> Path:
    return lake_dir / COMPACTED_SUBDIR


def _visible(p: Path) -> bool:
    return not p.name.startswith((".", "_"))


def hourly_files(lake_dir: Path, until: date | None = None) -> dict[str, list[tuple[str, str, Path]]]:
    """Committed hourly files by month: ``{"YYYY-MM": [(event_date, event_hour, path), ...]}`` for days up to
    ``until`` (inclusive; all days when None)."""
    root = lake_dir / ARCHIVE_SUBDIR
    out: dict[str, list[tuple[str, str, Path]]] = defaultdict(list)
    if not root.exists():
        return out
    last = until.isoformat() if until else None
    for day_dir in root.glob("event_date=*"):
        day = day_dir.name.split("=", 1)[1]
        if last is not None and day > last:
            continue
        for hour_dir in day_dir.glob("event_hour=*"):
            hour = hour_dir.name.split("=", 1)[1]
            out[day[:7]].extend((day, hour, f) for f in hour_dir.iterdir() if f.is_file() and _visible(f))
    return out


def _hourly_file(entry: tuple[str, str, Path]) -> pa.Table:
    day, hour, path = entry
    t = pq.read_table(path, schema=ARCHIVE_SCHEMA)
    return t.append_column("event_date", pa.array([day] * t.num_rows, pa.string())).append_column(
        "event_hour", pa.array([hour] * t.num_rows, pa.string())
    )


def _hourly_table(files: list[tuple[str, str, Path]], pool: ThreadPoolExecutor | None = None) -> pa.Table:
    """The files' rows with their partition values; read by ``pool`` when given (a long archive is thousands
    of tiny files, so opening them, not decoding rows, is the cost, and Arrow releases the GIL meanwhile)."""
    parts = list(pool.map(_hourly_file, files) if pool is not None else map(_hourly_file, files))
    return pa.concat_tables(parts) if parts else COMPACTED_SCHEMA.empty_table()


def compact_month(
    lake_dir: Path, month: str, files: list[tuple[str, str, Path]], pool: ThreadPoolExecutor | None = None
) -> int:
    """Merge ``files`` (and the month's existing compacted files) into one compacted file; returns its rows."""
    target = compacted_dir(lake_dir) / f"event_month={month}"
    target.mkdir(parents=True, exist_ok=True)
    old = [f for f in target.iterdir() if f.is_file() and _visible(f)]
    tables = [_hourly_table(files, pool)]
    if old:
        tables.append(pads.dataset([str(f) for f in old], schema=COMPACTED_SCHEMA, format="parquet").to_table())
    table = pa.concat_tables(tables).sort_by([("event_time_ms", "ascending"), ("event_id", "ascending")])
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = target / f".{name}.tmp"
    pq.write_table(table, tmp, row_group_size=1 << 20)
    os.replace(tmp, target / name)  # the new file is complete before anything it replaces goes away
    for f in old:
        f.unlink()
    for _, _, f in files:
        f.unlink()
    for d in {f.parent for _, _, f in files}:  # empty hour (then day) folders of the hourly tree
        for folder in (d, d.parent):
            with contextlib.suppress(OSError):  # not empty: a file committed meanwhile stays
                folder.rmdir()
    return table.num_rows


def compact(lake_dir: Path, until: date | None = None) -> CompactionReport:
    """Compact every month that has hourly files of days up to ``until``."""
    by_month = hourly_files(lake_dir, until)
    rows = 0
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        for month, files in sorted(by_month.items()):
            rows += compact_month(lake_dir, month, files, pool)
    n_files = sum(len(f) for f in by_month.values())
    log.info("compacted %d hourly files into %d months (%d rows)", n_files, len(by_month), rows)
    return CompactionReport(len(by_month), n_files, rows)
