"""Fixtures of the speed layer's unit tests."""

from __future__ import annotations

import pytest

from hybridrec.config import get_settings
from streaming import testkit


@pytest.fixture(scope="module")
def udf_classpath() -> str:
    """The UDF jar, built if stale, and the classpath its Java test drivers run with."""
    classpath = testkit.udf_classpath(get_settings())
    if classpath is None:
        pytest.skip("pyflink is not installed in .venv")
    testkit.build_udf()
    return classpath
