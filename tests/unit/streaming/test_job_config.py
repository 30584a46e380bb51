"""The job's Flink configuration: derived from the typed settings, with ``flink_options`` applied last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hybridrec.config import get_settings, with_section
from streaming.config import streaming_settings
from streaming.job import flink_configuration, local_jvm_args, scratch_dir


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


def test_local_heap_mb_bounds_the_local_jvm(tmp_path: Path) -> None:
    """The local JVM pyflink launches gets ``-Xmx`` from ``local_heap_mb`` (own process: a JVM launched earlier in
    this one would not read it)."""
    settings = streaming_settings(with_section(get_settings(), "paths", data_dir=tmp_path), local_heap_mb=512)
    assert local_jvm_args(settings, tmp_path, "-Dx=1").split() == [
        "-Dx=1",
        f"-Djava.io.tmpdir={tmp_path.resolve()}",
        "-Xmx512m",
    ]
    assert "-Xmx" not in local_jvm_args(streaming_settings(get_settings()), tmp_path)
    probe = (
        "from pyflink.java_gateway import get_gateway\n"
        "from streaming.config import streaming_settings\n"
        "from streaming.job import create_environment\n"
        "from hybridrec.config import get_settings, with_section\n"
        "from pathlib import Path\n"
        f"s = streaming_settings(with_section(get_settings(), 'paths', data_dir=Path({str(tmp_path)!r})), "
        "local_heap_mb=512)\n"
        "create_environment(s)\n"
        "print(get_gateway().jvm.java.lang.Runtime.getRuntime().maxMemory() // 2**20)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert 400 <= int(out.stdout.strip().splitlines()[-1]) <= 512, out.stdout
