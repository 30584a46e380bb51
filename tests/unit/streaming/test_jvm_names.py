"""Every JVM class named in streaming/jvm.py exists in the jar it is said to be in (a renamed Java class fails
here, not at job start)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyflink

from hybridrec.config import get_settings
from streaming import jvm
from streaming.job import STREAM_JAR
from tests.support.streaming_kit import TEST_JAR


def _classes(*jars: Path) -> set[str]:
    found: set[str] = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as z:
            found |= {n.removesuffix(".class").replace("/", ".") for n in z.namelist() if n.endswith(".class")}
    return found


def test_named_classes_are_in_their_jars(java_classpath: str) -> None:  # the fixture builds the jars
    deps = get_settings().paths.deps_dir
    assert set(jvm.JOB_JAR_CLASSES) <= _classes(deps / STREAM_JAR)
    assert set(jvm.TEST_JAR_CLASSES) <= _classes(deps / TEST_JAR)
    plugins = sorted((Path(pyflink.__file__).parent / "plugins").rglob("flink-metrics-prometheus-*.jar"))
    assert jvm.PROMETHEUS_REPORTER in _classes(*plugins), plugins
