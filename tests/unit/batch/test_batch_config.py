from pathlib import Path

import pytest
from pydantic import ValidationError

from batch.config import BatchConfig, load_batch_config
from hybridrec.config import Settings


def test_precedence_shared_section_file_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDREC_BATCH_CONFIG", raising=False)
    shared = Settings(batch={"als": {"rank": 8, "iters": 3}, "spark": {"master": "local[1]"}})
    f = tmp_path / "batch.toml"
    f.write_text("[batch.als]\nrank = 12\n[batch.window]\nwindow_days = 30\n")
    monkeypatch.setenv("HYBRIDREC_BATCH__ALS__REG", "0.5")
    cfg = load_batch_config(f, shared, materialize=False)
    assert (cfg.als.rank, cfg.als.iters, cfg.als.reg) == (12, 3, 0.5)
    assert cfg.spark.master == "local[1]" and cfg.window.window_days == 30 and not cfg.materialize


def test_unknown_keys_are_rejected_and_the_registry_is_the_shared_one() -> None:
    with pytest.raises(ValidationError):
        BatchConfig(als={"rnak": 3})
    with pytest.raises(ValidationError, match="registry_dir"):
        BatchConfig(registry_dir="/elsewhere")  # one registry root: the shared paths.registry_root
