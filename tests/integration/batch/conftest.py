"""Fixtures of the batch integration tests: one local SparkSession, and settings whose lake, registry and
Feast project are private to the test (the Feast repo reads its offline paths from the process settings,
so the data dir is switched through the environment for the duration)."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from batch import io
from batch.config import SparkConfig
from hybridrec.config import FeastConfig, PathsConfig, Settings, get_settings

# Tiny frames: planning and code generation cost more than the data; interpret instead and skip AQE.
TINY_DATA = {"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
             "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = io.spark_session(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="1g",
                                              extra=TINY_DATA))
    session.sparkContext.setLogLevel("ERROR")
    yield session


def _reload_feature_repo() -> None:
    get_settings.cache_clear()
    if "feature_repo.definitions" in sys.modules:
        importlib.reload(sys.modules["feature_repo.definitions"])


@pytest.fixture(scope="module")
def lake_settings(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir: Path = tmp_path_factory.mktemp("batch-data")
    mp = pytest.MonkeyPatch()
    mp.setenv("HYBRIDREC_PATHS__DATA_DIR", str(data_dir))
    _reload_feature_repo()
    project = f"t{uuid.uuid4().hex[:10]}"
    settings = services.model_copy(update={
        "paths": PathsConfig(**{**services.paths.model_dump(), "data_dir": data_dir}),
        "feast": FeastConfig(project=project, registry_path=data_dir / "feast" / "registry.db"),
    })
    yield settings
    mp.undo()
    _reload_feature_repo()
