"""The model registry: complete-or-absent versions, atomic pointer, checksum refusal, rollback."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from hybridrec.registry import CorruptArtifact, ModelRegistry, RegistryError


def _artifacts(tmp: Path, tag: str, size: int = 1000) -> dict[str, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    a, b = tmp / f"model-{tag}.bin", tmp / f"schema-{tag}.json"
    a.write_bytes(os.urandom(size))
    b.write_text(json.dumps({"tag": tag}))
    return {"model.bin": a, "schema.json": b}


def test_publish_manifest_and_checksums(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg")
    v = reg.publish(_artifacts(tmp_path / "a", "1"), {"data_window": {"t0": 1}, "metrics": {"ndcg@10": 0.3}})
    m = reg.get(v.version).manifest
    assert m["version"] == v.version and m["parent"] is None and m["code_version"]
    assert set(m["artifacts"]) == {"model.bin", "schema.json"}
    v.verify()
    v2 = reg.publish(_artifacts(tmp_path / "b", "2"), {})
    assert v2.manifest["parent"] is None  # nothing promoted yet
    reg.promote(v.version)
    v3 = reg.publish(_artifacts(tmp_path / "c", "3"), {})
    assert v3.manifest["parent"] == v.version
    assert [x.version for x in reg.list()] == sorted([v.version, v2.version, v3.version])


def test_corrupted_artifact_is_refused_and_cannot_be_promoted(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg")
    v = reg.publish(_artifacts(tmp_path / "a", "1"), {})
    path = v.path / "model.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact):
        reg.get(v.version).artifact("model.bin")
    with pytest.raises(CorruptArtifact):
        reg.promote(v.version)
    assert reg.current_version() is None


def test_promote_and_rollback(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg")
    v1 = reg.publish(_artifacts(tmp_path / "a", "1"), {}).version
    v2 = reg.publish(_artifacts(tmp_path / "b", "2"), {}).version
    with pytest.raises(RegistryError):
        reg.rollback()
    reg.promote(v1)
    reg.promote(v2)
    assert reg.current_version() == v2
    assert reg.rollback() == v1
    assert reg.current_version() == v1
    with pytest.raises(RegistryError):
        reg.rollback()


def test_failed_publish_leaves_nothing_visible(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg")
    arts = _artifacts(tmp_path / "a", "1")
    arts["missing.bin"] = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError):
        reg.publish(arts, {})
    assert reg.list() == []
    assert not [p for p in (tmp_path / "reg" / "versions").iterdir()]


def test_reader_never_sees_a_half_written_version_or_pointer(tmp_path: Path) -> None:
    """A writer publishes and promotes large versions while a reader keeps resolving CURRENT and loading
    the version it names; every read must parse and verify."""
    reg = ModelRegistry(tmp_path / "reg")
    first = reg.publish(_artifacts(tmp_path / "w0", "0", 200_000), {})
    reg.promote(first.version)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        r = ModelRegistry(tmp_path / "reg")
        while not stop.is_set():
            try:
                cur = r.current()
                assert cur is not None
                cur.verify()
                for v in r.list():
                    assert (v.path / "manifest.json").is_file()
                    assert set(v.manifest["artifacts"]) <= {p.name for p in v.path.iterdir()}
                reads += 1
            except BaseException as exc:  # collected, re-raised in the test thread
                errors.append(exc)
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(1, 15):
            v = reg.publish(_artifacts(tmp_path / f"w{i}", str(i), 200_000), {})
            reg.promote(v.version)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]
    assert reads > 0
