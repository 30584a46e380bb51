"""Shared fixtures. Integration tests run against the real broker and Redis, started through the Makefile."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridrec.config import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos",
        choices=["ci", "full"],
        default="ci",
        help="tests/chaos: the CI-sized subset (default) or every fault (`make chaos`)",
    )


@pytest.fixture(scope="session")
def services() -> Settings:
    """Start Kafka and Redis with `make up` (idempotent: a no-op when they already run)."""
    proc = subprocess.run(["make", "--no-print-directory", "up"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"`make up` failed:\n{proc.stdout}\n{proc.stderr}")
    return get_settings()


@pytest.fixture
def isolated(services: Settings) -> Iterator[Settings]:
    """Settings whose topics are unique to this test, created on the real broker and deleted afterwards."""
    from hybridrec.kafka.topics import delete_topics, ensure_topics, topic_specs
    from tests.support.streaming_kit import with_topics_named

    kafka = with_topics_named(services.kafka, f"t{uuid.uuid4().hex[:10]}", partitions=4)
    settings = services.model_copy(update={"kafka": kafka})
    ensure_topics(kafka)
    yield settings
    delete_topics(kafka, [s.name for s in topic_specs(kafka)])


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession for every batch test. Tiny frames: planning and code generation cost more than
    the data, so interpret instead and skip adaptive execution."""
    from batch import io
    from batch.config import SparkConfig

    tiny_data = {
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }
    session = io.spark_session(
        SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="1g", extra=tiny_data),
        get_settings().paths.deps_dir,
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.fixture(scope="module")
def java_classpath() -> str:
    """The speed layer's UDF jar, built if stale, and the classpath its Java test drivers run with."""
    from tests.support import streaming_kit as testkit

    classpath = testkit.java_classpath(get_settings())
    if classpath is None:
        pytest.skip("pyflink is not installed in .venv")
    testkit.build_jar()
    return classpath
