"""One local SparkSession for all batch tests (small, UI off), and tiny frame helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from batch import io
from batch.config import SparkConfig

# Tiny frames: planning and code generation cost more than the data; interpret instead and skip AQE.
TINY_DATA = {"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
             "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = io.spark_session(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="1g",
                                              extra=TINY_DATA))
    session.sparkContext.setLogLevel("ERROR")
    yield session
