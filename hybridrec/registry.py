"""The model registry: where batch publishes model versions and serving finds the promoted one.

Layout under a root directory::

    <root>/versions/<version>/manifest.json   version, parent, data window, code version, feature schema,
                                               metrics, sha256 + size of every artifact
    <root>/versions/<version>/<artifacts>     ranker.pt (TorchScript), *.npy, faiss.index, ...
    <root>/CURRENT.json                        {"version": ..., "history": [older promoted versions]}

Why it is safe to read while batch writes: a version is assembled in a hidden temporary directory and
renamed into ``versions/`` in one ``os.rename`` once every file and the manifest are on disk, so a version
directory either does not exist or is complete; the pointer is replaced with ``os.replace`` of a fully
written temporary file. Every load checks each artifact's sha256 against the manifest, so a corrupted or
truncated file is refused instead of served. Local paths only for now; the same layout maps onto an
object store (write to a temporary prefix, copy the pointer last).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
POINTER = "CURRENT.json"
VERSIONS = "versions"


class RegistryError(RuntimeError):
    """Base of registry failures."""


class VersionNotFound(RegistryError):
    pass


class CorruptArtifact(RegistryError):
    """An artifact's bytes do not match the checksum its manifest recorded."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_version(repo: Path | None = None) -> str:
    """Git sha of the code that produced a model (``-dirty`` when the tree has changes), or ``unknown``."""
    cwd = repo or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class ModelVersion:
    """A complete, checksummed version on disk."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def artifact(self, name: str, *, verify: bool = True) -> Path:
        """Path of an artifact, after checking its checksum (raises :class:`CorruptArtifact`)."""
        entry = self.manifest["artifacts"].get(name)
        if entry is None:
            raise RegistryError(f"{self.version} has no artifact {name!r}")
        path = self.path / name
        if verify:
            if not path.is_file():
                raise CorruptArtifact(f"{self.version}/{name} is missing")
            actual = sha256_file(path)
            if actual != entry["sha256"]:
                raise CorruptArtifact(
                    f"{self.version}/{name}: sha256 {actual[:12]}… but the manifest says "
                    f"{entry['sha256'][:12]}…; refusing to load it"
                )
        return path

    def verify(self) -> None:
        for name in self.manifest["artifacts"]:
            self.artifact(name)


class ModelRegistry:
    """Versions under ``root``; see the module docstring for the layout and the guarantees."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS

    # --- writing ---------------------------------------------------------------------------------------

    def new_version_id(self) -> str:
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S")
        return f"v{stamp}-{os.urandom(3).hex()}"

    def publish(
        self, artifacts: Mapping[str, Path], manifest: Mapping[str, Any], version: str | None = None
    ) -> ModelVersion:
        """Copy ``artifacts`` (name → file) into a new version with ``manifest`` plus checksums; atomic."""
        version = version or self.new_version_id()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        final = self.versions_dir / version
        if final.exists():
            raise RegistryError(f"version {version} already exists")
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".tmp", dir=self.versions_dir))
        try:
            entries: dict[str, dict[str, Any]] = {}
            for name, src in artifacts.items():
                if "/" in name or name in (MANIFEST, "") or name.startswith("."):
                    raise RegistryError(f"bad artifact name {name!r}")
                dst = staging / name
                shutil.copyfile(src, dst)
                with open(dst, "rb") as fh:
                    os.fsync(fh.fileno())
                entries[name] = {"sha256": sha256_file(dst), "bytes": dst.stat().st_size}
            full = {
                **manifest,
                "version": version,
                "created_at": datetime.now(tz=UTC).isoformat(),
                "artifacts": entries,
            }
            full.setdefault("parent", self.current_version())
            full.setdefault("code_version", code_version())
            with open(staging / MANIFEST, "w") as fh:
                json.dump(full, fh, indent=2, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(staging)
            os.rename(staging, final)
            _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return ModelVersion(final, full)

    def sweep_staging(self, older_than_s: float = 3600.0) -> int:
        """Remove staging directories of publishes that died (a killed batch run), i.e. untouched for
        ``older_than_s``; returns how many. A live publish writes its staging directory for seconds, not hours,
        and a staging directory is never visible as a version, so this only frees disk."""
        if not self.versions_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for staging in self.versions_dir.glob(".*.tmp"):
            try:
                newest = max((p.stat().st_mtime for p in [staging, *staging.rglob("*")]), default=0.0)
            except FileNotFoundError:  # finished (renamed) or removed meanwhile
                continue
            if newest < cutoff:
                shutil.rmtree(staging, ignore_errors=True)
                removed += 1
        return removed

    def _pointer(self) -> dict[str, Any]:
        try:
            with open(self.root / POINTER) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {"version": None, "history": []}

    def promote(self, version: str, reason: str = "") -> None:
        """Make ``version`` the one serving loads: verified first, then one atomic pointer swap."""
        self.get(version).verify()
        pointer = self._pointer()
        history = list(pointer.get("history", []))
        if pointer.get("version") and pointer["version"] != version:
            history.append(pointer["version"])
        _write_json_atomic(
            self.root / POINTER,
            {
                "version": version,
                "history": history,
                "promoted_at": datetime.now(tz=UTC).isoformat(),
                "reason": reason,
                "ts": time.time(),
            },
        )

    def rollback(self, reason: str = "rollback") -> str:
        """Point back at the previously promoted version (verified); returns it."""
        pointer = self._pointer()
        history = list(pointer.get("history", []))
        while history:
            previous = history.pop()
            try:
                self.get(previous).verify()
            except RegistryError:
                continue
            _write_json_atomic(
                self.root / POINTER,
                {
                    "version": previous,
                    "history": history,
                    "promoted_at": datetime.now(tz=UTC).isoformat(),
                    "reason": reason,
                    "rolled_back_from": pointer.get("version"),
                    "ts": time.time(),
                },
            )
            return previous
        raise RegistryError("no earlier promoted version to roll back to")

    # --- reading ---------------------------------------------------------------------------------------

    def list(self) -> list[ModelVersion]:
        """Complete versions, oldest first (half-written ones live in hidden temporary dirs, never listed)."""
        if not self.versions_dir.is_dir():
            return []
        out = []
        for d in sorted(self.versions_dir.iterdir()):
            if d.name.startswith(".") or not (d / MANIFEST).is_file():
                continue
            out.append(self.get(d.name))
        return out

    def get(self, version: str) -> ModelVersion:
        path = self.versions_dir / version
        try:
            with open(path / MANIFEST) as fh:
                return ModelVersion(path, json.load(fh))
        except FileNotFoundError:
            raise VersionNotFound(f"no version {version!r} under {self.versions_dir}") from None

    def current_version(self) -> str | None:
        return self._pointer().get("version")

    def current(self) -> ModelVersion | None:
        v = self.current_version()
        return None if v is None else self.get(v)

    def pointer(self) -> dict[str, Any]:
        return self._pointer()
