"""feature_repo/: importing the definitions builds nothing; the Feast CLI still finds every object."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from hybridrec.config import PROJECT_ROOT, get_settings


def test_importing_the_definitions_reads_no_settings() -> None:
    import feature_repo.definitions

    get_settings.cache_clear()
    importlib.reload(feature_repo.definitions)
    assert get_settings.cache_info().misses == 0, "the definitions read the settings at import time"


def test_the_feast_cli_plans_every_view(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "HYBRIDREC_FEAST_REDIS": "127.0.0.1:1",
        "HYBRIDREC_FEAST_REGISTRY": str(tmp_path / "registry.db"),
    }
    feast = Path(sys.executable).with_name("feast")
    out = subprocess.run(
        [str(feast), "-c", str(PROJECT_ROOT / "feature_repo"), "plan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for name in (
        "entity user",
        "entity item",
        "feature view user_fresh",
        "feature view item_fresh",
        "feature view user_batch",
        "feature view item_batch",
    ):
        assert f"Created {name}\n" in out.stdout, out.stdout
