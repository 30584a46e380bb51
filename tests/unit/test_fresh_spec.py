"""The spec text both layers give the JVM fold, and the features jar the batch layer puts on Spark's classpath."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hybridrec import fresh_spec
from hybridrec.config import get_settings
from hybridrec.fresh_features import VIEWS


def test_fold_spec_names_every_feature_and_no_store() -> None:
    lines = fresh_spec.fold_spec_text().splitlines()
    fields = [line for line in lines if line.startswith("field=")]
    assert len(fields) == sum(len(list(v.outputs())) for v in VIEWS)
    assert "redis_port=0" in lines and "bootstrap_servers=" in lines
    assert all(line.split(" ")[2:] == ["0", "1", "", "", "", ""] for line in lines if line.startswith("view="))


def test_a_missing_features_jar_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make features-jar"):
        fresh_spec.features_jar(tmp_path)


def test_the_features_jar_is_the_features_package_alone() -> None:  # `make install` builds it
    jar = fresh_spec.features_jar(get_settings().paths.deps_dir)
    with zipfile.ZipFile(jar) as z:
        classes = {n.removesuffix(".class").replace("/", ".") for n in z.namelist() if n.endswith(".class")}
    assert fresh_spec.SNAPSHOT_FOLD in classes
    assert all(c.startswith("io.hybridrec.features.") for c in classes), classes
