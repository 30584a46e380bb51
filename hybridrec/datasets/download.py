"""Fetch a MovieLens release from GroupLens at run time, because the data may never be committed.

The download goes to a temporary file that is renamed only once complete and verified as a zip, and the
extraction goes to a temporary folder renamed into place, so an interrupted run never leaves a half copy
that a later run would mistake for a good one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final

from hybridrec.config import PathsConfig
from hybridrec.datasets.movielens import MOVIELENS_NAMES, detect_format
from hybridrec.errors import UserError

if TYPE_CHECKING:
    from hybridrec.config import Settings

GROUPLENS_BASE_URL: Final = PathsConfig().datasets_url
_CHUNK: Final = 1 << 20

Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) while downloading."""


class DownloadFailed(UserError, RuntimeError):
    """The release could not be fetched or is not a valid zip; the message says how to proceed offline."""


def dataset_url(name: str, base_url: str = GROUPLENS_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{name}.zip"


def _is_present(path: Path) -> bool:
    try:
        detect_format(path)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _offline_hint(name: str, url: str) -> str:
    return (
        f"Without network access, fetch {url} on another machine, unzip it, and pass "
        f"`--path /dir/{name}` (the folder that contains the rating files)."
    )


def _fetch(url: str, target: Path, timeout_s: float, progress: Progress | None) -> None:
    """Stream ``url`` into ``target`` via a temporary sibling and an atomic rename."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while block := response.read(_CHUNK):
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            if total is not None and done != total:
                raise DownloadFailed(f"{url}: connection closed after {done} of {total} bytes")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _check_zip(archive: Path, url: str, name: str) -> None:
    if not zipfile.is_zipfile(archive):
        archive.unlink(missing_ok=True)
        raise DownloadFailed(f"{url} did not return a zip archive. {_offline_hint(name, url)}")
    with zipfile.ZipFile(archive) as zf:
        bad = zf.testzip()
    if bad is not None:
        archive.unlink(missing_ok=True)
        raise DownloadFailed(f"{url}: member {bad!r} fails its CRC check; the download is corrupt, retry")


def _extract(archive: Path, final: Path, name: str) -> None:
    """Unzip into a temporary folder, then move the dataset folder to ``final`` in one rename."""
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            root = staging.resolve()
            for member in zf.namelist():
                target = (staging / member).resolve()
                if PurePosixPath(member).is_absolute() or not target.is_relative_to(root):
                    raise DownloadFailed(f"{archive} has an unsafe member path {member!r}; refusing to extract")
            zf.extractall(staging)
        # The GroupLens zips hold one top folder (ml-100k/, ml-1m/, ml-10M100K/ ...); accept a flat zip too.
        entries = [p for p in staging.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        source = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if not _is_present(source):
            raise DownloadFailed(f"{archive} does not contain MovieLens rating files")
        os.replace(source, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(
    name: str,
    dest_dir: Path | None = None,
    settings: Settings | None = None,
    *,
    base_url: str | None = None,
    timeout_s: float = 60.0,
    keep_zip: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Download and unzip MovieLens ``name`` into ``dest_dir/name`` and return that folder.

    ``dest_dir`` defaults to ``settings.paths.downloads_dir``, where :func:`load_dataset` looks. Nothing is
    fetched when the folder already holds the data, so calling it again is cheap.
    """
    if name not in MOVIELENS_NAMES:
        raise ValueError(f"unknown MovieLens dataset {name!r}; choose one of {', '.join(MOVIELENS_NAMES)}")
    if settings is None and (dest_dir is None or base_url is None):
        from hybridrec.config import get_settings

        settings = get_settings()
    if dest_dir is None:
        dest_dir = settings.paths.downloads_dir  # type: ignore[union-attr]
    if base_url is None:
        base_url = settings.paths.datasets_url  # type: ignore[union-attr]
    dest_dir = Path(dest_dir)
    final = dest_dir / name
    if _is_present(final):
        return final
    if final.exists() and any(final.iterdir()):
        raise DownloadFailed(f"{final} exists but holds no MovieLens rating files; move it away and retry")
    dest_dir.mkdir(parents=True, exist_ok=True)
    url = dataset_url(name, base_url)
    archive = dest_dir / f"{name}.zip"
    if not zipfile.is_zipfile(archive):
        try:
            _fetch(url, archive, timeout_s, progress)
        except urllib.error.HTTPError as exc:
            raise DownloadFailed(f"{url} answered HTTP {exc.code} {exc.reason}. {_offline_hint(name, url)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadFailed(f"could not download {url}: {reason}. {_offline_hint(name, url)}") from exc
    _check_zip(archive, url, name)
    _extract(archive, final, name)
    if not keep_zip:
        archive.unlink(missing_ok=True)
    return final
