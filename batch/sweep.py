"""What killed writers leave in the lake, and the lock that makes removing it safe.

Every writer of the lake publishes by rename, so a kill leaves hidden leftovers that no reader sees but that
pile up (each run names its temporaries anew):

- the speed layer's Parquet sink: ``events/event_date=…/event_hour=…/.part-<id>-<n>.inprogress.<id>``. A file
  still in progress at a kill belongs to no checkpoint; a *pending* one (rolled at the last checkpoint,
  renamed when it completes) is committed when the job restores from that checkpoint. Such a restore can come
  late (the job down for days), but never usefully after the topic's retention has removed the events the
  checkpoint's offsets point at. So a hidden part file older than the ``interactions`` retention is garbage
  for certain, and nothing younger is touched (with infinite retention: never).
- this layer's own temporaries: compaction's ``events_compacted/event_month=…/.part-….parquet.tmp``, the
  features' ``features/.<view>.<id>.tmp`` (a Spark write in progress) and ``.<view>.<id>.old`` (the previous
  table, moved aside for the swap; restored when the kill came between the two renames, so the view is
  never left missing). Batch runs and ``hybridrec batch compact`` hold :func:`lake_lock` while they write,
  so whatever of these exists while one holds it belongs to a dead process.
- the model registry's staging directories (``versions/.<version>.….tmp``), swept by
  :meth:`hybridrec.registry.ModelRegistry.sweep_staging`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from batch.compact import COMPACTED_SUBDIR
from hybridrec.contract import ARCHIVE_SUBDIR
from hybridrec.registry import ModelRegistry

log = logging.getLogger("hybridrec.batch.sweep")

LOCK_FILE = ".batch.lock"
FEATURES_SUBDIR = "features"


class LakeBusy(RuntimeError):
    """Another batch process writes this lake; the message names it."""


@contextlib.contextmanager
def lake_lock(lake_dir: Path) -> Iterator[None]:
    """Exclusive right to write the lake's batch outputs for the duration (released by the kernel when the holder
    dies, so a killed run never leaves it taken)."""
    lake_dir.mkdir(parents=True, exist_ok=True)
    path = lake_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LakeBusy(
                f"another batch process (pid {holder}) is writing {lake_dir}; wait for it to finish "
                f"(its lock is {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SweepReport:
    orphan_parts: int = 0
    batch_temporaries: int = 0
    restored_views: int = 0
    registry_staging: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def is_sink_part_file(name: str) -> bool:
    """The Flink Parquet sink's hidden in-progress/pending file name (committed files drop the dot and suffix)."""
    return name.startswith(".part-") and ".inprogress" in name


def sweep_orphan_parts(lake_dir: Path, until: date, min_age_ms: int, now_ms: int | None = None) -> int:
    """Remove the sink's hidden part files older than ``min_age_ms`` in days up to ``until``; negative age: none."""
    root = lake_dir / ARCHIVE_SUBDIR
    if min_age_ms < 0 or not root.exists():
        return 0
    cutoff_s = ((now_ms if now_ms is not None else time.time() * 1000) - min_age_ms) / 1000
    removed = 0
    last = until.isoformat()
    for day_dir in root.glob("event_date=*"):
        if day_dir.name.split("=", 1)[1] > last:
            continue
        for f in day_dir.glob("event_hour=*/.part-*"):
            with contextlib.suppress(FileNotFoundError):
                if is_sink_part_file(f.name) and f.stat().st_mtime < cutoff_s:
                    f.unlink()
                    removed += 1
                    log.info("removed orphaned sink file %s", f)
    return removed


def sweep_batch_temporaries(lake_dir: Path) -> tuple[int, int]:
    """Remove what killed batch writers left; call with :func:`lake_lock` held. Returns (removed, restored)."""
    removed = restored = 0
    for tmp in (lake_dir / COMPACTED_SUBDIR).glob("event_month=*/.part-*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    features = lake_dir / FEATURES_SUBDIR
    for tmp in features.glob(".*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed += 1
    for old in sorted(features.glob(".*.old"), key=lambda p: p.stat().st_mtime, reverse=True):
        view = features / old.name[1:].split(".", 1)[0]
        if not view.exists():  # killed between moving the old table aside and moving the new one in
            os.replace(old, view)
            restored += 1
            log.warning("restored %s from %s (a run was killed mid-swap)", view, old.name)
        else:
            shutil.rmtree(old, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d temporaries of killed batch writers under %s", removed, lake_dir)
    return removed, restored


def sweep_leftovers(lake_dir: Path, registry: ModelRegistry, until: date, orphan_age_ms: int) -> SweepReport:
    """Everything above, for a run that holds :func:`lake_lock`: the sink's orphans of days up to ``until`` older
    than ``orphan_age_ms`` (the interactions retention), the batch temporaries, the registry's dead staging."""
    orphans = sweep_orphan_parts(lake_dir, until, orphan_age_ms)
    removed, restored = sweep_batch_temporaries(lake_dir)
    return SweepReport(orphans, removed, restored, registry.sweep_staging())
