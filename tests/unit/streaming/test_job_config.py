"""The job's Flink configuration: derived from the typed settings, with ``flink_options`` applied last."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hybridrec.config import get_settings, with_section
from streaming.config import streaming_settings
from streaming.job import flink_configuration, scratch_dir


def test_flink_options_are_applied_last_and_override_derived_keys() -> None:
    settings = streaming_settings(
        get_settings(),
        checkpoint_interval_ms=5_000,
        flink_options={"pipeline.auto-watermark-interval": "50 ms", "execution.checkpointing.interval": "7 s"},
    )
    conf = flink_configuration(settings)
    assert conf.get_string("pipeline.auto-watermark-interval", "") == "50 ms"
    assert conf.get_string("execution.checkpointing.interval", "") == "7 s"
    assert conf.get_string("table.local-time-zone", "") == "UTC"


def test_scratch_dir_is_per_process_and_sweeps_what_dead_processes_left(tmp_path: Path) -> None:
    settings = streaming_settings(with_section(get_settings(), "paths", data_dir=tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    root = settings.flink_tmp_root
    for name in (str(dead.pid), "1", "keep-me"):  # a dead process, a live one (init), not a process dir
        (root / name / "blobStorage").mkdir(parents=True)
    mine = scratch_dir(settings)
    assert mine == root / str(os.getpid()) and mine.is_dir()
    assert sorted(p.name for p in root.iterdir()) == sorted(["1", "keep-me", str(os.getpid())])
