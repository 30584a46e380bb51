from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.config import ServingConfig, ServingSettings, Variant


def test_env_overrides_and_unknown_keys_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDREC_SERVING__PORT", "50099")
    monkeypatch.setenv("HYBRIDREC_SERVING__BUDGETS__FEATURES_MAX_MS", "12.5")
    s = ServingSettings()
    assert s.serving.port == 50099 and s.serving.budgets.features_max_ms == 12.5
    assert s.paths.registry_root == s.paths.data_dir / "registry"
    with pytest.raises(ValidationError, match="prot"):
        ServingConfig(prot=1)  # type: ignore[call-arg]


def test_inconsistent_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="default_rows"):
        ServingConfig(default_rows=20, max_rows=10)
    with pytest.raises(ValidationError, match="distinct names"):
        ServingConfig(variants=(Variant(name="a"), Variant(name="a")))
    with pytest.raises(ValidationError, match="exploration_rate"):
        ServingConfig(exploration_rate=0.9)


def test_sample_file_documents_exactly_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    import serving

    sample = Path(serving.__file__).parent / "serving.sample.toml"
    monkeypatch.setenv("HYBRIDREC_CONFIG", str(sample))
    assert ServingSettings().serving == ServingConfig()
    import tomllib

    documented = set(tomllib.loads(sample.read_text())["serving"])
    assert documented == set(ServingConfig.model_fields), "every key is in the sample"


def test_workers_need_a_fixed_port() -> None:
    with pytest.raises(ValidationError, match="fixed port"):
        ServingConfig(workers=2, port=0)
    assert ServingConfig(workers=2, port=50051).workers == 2


def test_workers_default_to_one_per_usable_core_but_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 64)  # the host's cores: not what this process may use
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert ServingConfig(port=50051).worker_count == 7
    assert ServingConfig(port=0).worker_count == 1, "an ephemeral port cannot be shared"
    assert ServingConfig(port=50051, workers=3).worker_count == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0}, raising=False)
    assert ServingConfig(port=50051).worker_count == 1
    monkeypatch.delattr("os.sched_getaffinity", raising=False)  # a platform without affinity masks
    assert ServingConfig(port=50051).worker_count == 63
