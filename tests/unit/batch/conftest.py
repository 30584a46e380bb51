"""One local SparkSession for all batch tests (small, UI off), and tiny frame helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from batch import io
from batch.config import SparkConfig


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = io.spark_session(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="1g"))
    session.sparkContext.setLogLevel("ERROR")
    yield session
