"""The same pipeline, submitted with spark-submit to a local standalone cluster (master + worker).

Slow (a cluster start and a full run), so marked ``slow``: ``pytest -m "not slow"`` leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from batch import cluster, io
from batch.config import load_batch_config
from hybridrec.catalog import write_snapshot
from hybridrec.config import get_settings
from hybridrec.contract import archive_table
from hybridrec.datasets.model import Item
from hybridrec.fresh_spec import features_jar
from hybridrec.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def test_pipeline_runs_on_the_standalone_cluster(
    tmp_path: Path, services: object, world: tuple[list[Item], list[dict[str, object]]]
) -> None:
    items, rows = world
    lake = tmp_path / "lake"
    write_snapshot(items, lake)
    io.write_archive_table(archive_table(rows), lake)
    cfg = load_batch_config().spark
    was_running = cluster.port_open(cfg.cluster_host, cfg.cluster_port)
    if not was_running:
        cluster.up(cfg)
    env = {
        **os.environ,
        "HYBRIDREC_PATHS__DATA_DIR": str(tmp_path),
        "HYBRIDREC_FEAST__PROJECT": f"t{uuid.uuid4().hex[:10]}",
        "HYBRIDREC_BATCH__SPARK__SHUFFLE_PARTITIONS": "2",
        "HYBRIDREC_BATCH__SPARK__EXECUTOR_MEMORY": "1g",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    report = tmp_path / "report.json"
    try:
        proc = subprocess.run(
            [
                str(cluster.SPARK_HOME / "bin" / "spark-submit"),
                "--master",
                cluster.master_url(cfg),
                "--jars",
                str(features_jar(get_settings().paths.deps_dir)),
                str(ROOT / "batch" / "submit.py"),
                "--as-of",
                "2023-11-20",
                "--window-days",
                "10",
                "--report",
                str(report),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        if not was_running:
            cluster.down()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "StandaloneSchedulerBackend" in proc.stderr or "spark://" in proc.stderr
    out = json.loads(report.read_text())
    assert out["window"]["events"] == 80 * 40
    assert out["features"] == {"user_batch": 80, "item_batch": 48}
    versions = ModelRegistry(tmp_path / "registry").list()
    assert [v.version for v in versions] == [out["version"]]
    versions[0].verify()
