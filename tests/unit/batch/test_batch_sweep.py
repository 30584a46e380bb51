"""Leftovers of killed writers: which are removed, which are kept, and the lock that makes it safe."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

from batch import sweep
from hybridrec.registry import ModelRegistry

DAY_S = 86_400
RETENTION_MS = 7 * DAY_S * 1000


def _file(path: Path, age_s: float = 0.0, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_orphaned_sink_files_older_than_the_retention_are_removed(tmp_path: Path) -> None:
    """What a killed Flink job left (seen after tests/integration/streaming/test_streaming_recovery.py): hidden
    in-progress files. Only those older than the interactions retention go, only in days up to ``until``;
    committed files and anything else hidden stay."""
    hour = tmp_path / "events" / "event_date=2024-01-01" / "event_hour=05"
    stale = _file(hour / ".part-0a1b-0-8.inprogress.8c8a", age_s=8 * DAY_S)
    young = _file(hour / ".part-0a1b-0-9.inprogress.9d9b", age_s=6 * DAY_S)
    committed = _file(hour / "part-0a1b-0-7", age_s=30 * DAY_S)
    other = _file(hour / ".something-else", age_s=30 * DAY_S)
    later = _file(
        tmp_path / "events" / "event_date=2024-01-03" / "event_hour=00" / ".part-c-0-1.inprogress.d", age_s=30 * DAY_S
    )

    assert sweep.sweep_orphan_parts(tmp_path, date(2024, 1, 2), RETENTION_MS) == 1
    assert not stale.exists()
    assert young.exists() and committed.exists() and other.exists() and later.exists()
    assert sweep.sweep_orphan_parts(tmp_path, date(2024, 1, 3), -1) == 0, "infinite retention: nothing is garbage"
    assert later.exists()


def test_batch_temporaries_go_and_a_view_killed_mid_swap_is_restored(tmp_path: Path) -> None:
    compaction_tmp = _file(tmp_path / "events_compacted" / "event_month=2024-01" / ".part-abc.parquet.tmp")
    compacted = _file(tmp_path / "events_compacted" / "event_month=2024-01" / "part-abc.parquet")
    features = tmp_path / "features"
    spark_tmp = _file(features / ".user_batch.1f2e.tmp" / "part-00000.parquet")
    # item_batch: killed between moving the previous table aside and moving the new one in
    _file(features / ".item_batch.aaaa.old" / "part-00000.parquet", age_s=100, content=b"older")
    _file(features / ".item_batch.bbbb.old" / "part-00000.parquet", age_s=10, content=b"previous")
    # user_batch: the swap finished, the moved-aside table was not deleted yet
    _file(features / "user_batch" / "part-00000.parquet", content=b"current")
    _file(features / ".user_batch.cccc.old" / "part-00000.parquet")

    removed, restored = sweep.sweep_batch_temporaries(tmp_path)
    assert (removed, restored) == (4, 1)
    assert not compaction_tmp.exists() and not spark_tmp.parent.exists() and compacted.exists()
    assert (features / "item_batch" / "part-00000.parquet").read_bytes() == b"previous"
    assert (features / "user_batch" / "part-00000.parquet").read_bytes() == b"current"
    assert sorted(p.name for p in features.iterdir()) == ["item_batch", "user_batch"]


def test_registry_staging_of_a_dead_publish_is_removed_a_live_one_kept(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    art = _file(tmp_path / "model.bin")
    version = registry.publish({"model.bin": art}, {})
    dead = _file(registry.versions_dir / ".v1.abcd.tmp" / "ranker.pt", age_s=2 * 3600)
    os.utime(dead.parent, (time.time() - 2 * 3600,) * 2)
    live = _file(registry.versions_dir / ".v2.ef01.tmp" / "ranker.pt", age_s=2 * 3600)
    _file(live.parent / "faiss.index")  # still being written
    assert registry.sweep_staging(older_than_s=3600) == 1
    assert not dead.parent.exists() and live.exists()
    assert [v.version for v in registry.list()] == [version.version]


def test_the_lake_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    with (
        sweep.lake_lock(tmp_path),
        pytest.raises(sweep.LakeBusy, match=f"pid {os.getpid()}"),
        sweep.lake_lock(tmp_path),
    ):
        pass
    with sweep.lake_lock(tmp_path):  # released
        pass
