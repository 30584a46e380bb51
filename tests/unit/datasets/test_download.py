"""download() against a local HTTP server serving zips built here: GroupLens is not reachable offline."""

from __future__ import annotations

import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hybridrec.config import PathsConfig, Settings
from hybridrec.datasets import (
    GROUPLENS_BASE_URL,
    DatasetNotFound,
    DownloadFailed,
    MovieLensDataset,
    SyntheticDataset,
    dataset_url,
    download,
    load_dataset,
)

U_DATA = "1\t10\t4\t881250949\n2\t10\t3\t881250950\n"
U_ITEM = "10|Brief Film (1999)|01-Jan-1999||http://example.invalid/10|" + "|".join(["0"] * 8 + ["1"] + ["0"] * 10)


def make_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


class Server:
    """A threaded static file server on 127.0.0.1 that counts the requests it receives."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets/movielens"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    root = tmp_path / "www"
    (root / "datasets" / "movielens").mkdir(parents=True)
    srv = Server(root)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def publish(srv: Server, name: str, members: dict[str, str | bytes]) -> Path:
    return make_zip(srv.root / "datasets" / "movielens" / f"{name}.zip", members)


def test_downloads_extracts_and_is_idempotent(server: Server, tmp_path: Path) -> None:
    publish(server, "ml-100k", {"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM, "ml-100k/README": "x"})
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "downloads"
    path = download("ml-100k", dest, base_url=server.base_url, progress=lambda done, total: seen.append((done, total)))
    assert path == dest / "ml-100k"
    assert (path / "u.data").read_text() == U_DATA
    assert not (dest / "ml-100k.zip").exists(), "the zip is removed once extracted"
    assert [p.name for p in dest.iterdir()] == ["ml-100k"], "no temporary files are left behind"
    assert server.requests == ["/datasets/movielens/ml-100k.zip"]
    assert seen
    assert seen[-1][0] == seen[-1][1]
    assert [e.item_id for e in MovieLensDataset(path).interactions()] == ["10", "10"]

    assert download("ml-100k", dest, base_url=server.base_url) == path
    assert len(server.requests) == 1, "a present dataset is not fetched again"


def test_default_destination_is_downloads_dir_where_load_dataset_looks(server: Server, tmp_path: Path) -> None:
    publish(
        server,
        "ml-1m",
        {"ml-1m/ratings.dat": "1::10::5::978300760\n", "ml-1m/movies.dat": "10::A (2000)::Drama\n"},
    )
    settings = Settings(paths=PathsConfig(datasets_dir=tmp_path / "none", data_dir=tmp_path / "data"))
    path = download("ml-1m", settings=settings, base_url=server.base_url, keep_zip=True)
    assert path == settings.paths.downloads_dir / "ml-1m"
    assert (settings.paths.downloads_dir / "ml-1m.zip").is_file()
    loaded = load_dataset("ml-1m", None, settings)
    assert isinstance(loaded, MovieLensDataset)
    assert loaded.path == path


def test_flat_zip_without_top_folder(server: Server, tmp_path: Path) -> None:
    publish(server, "ml-latest-small", {"ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.5,4\n"})
    path = download("ml-latest-small", tmp_path / "d", base_url=server.base_url)
    assert (path / "ratings.csv").is_file()


def test_http_error_names_url_and_path_option(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as err:
        download("ml-20m", tmp_path / "d", base_url=server.base_url)
    message = str(err.value)
    assert f"{server.base_url}/ml-20m.zip" in message
    assert "404" in message
    assert "--path" in message
    assert not (tmp_path / "d" / "ml-20m").exists()


def test_unreachable_host_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # bind then close: nothing listens on this port afterwards
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadFailed, match=r"--path"):
        download("ml-25m", tmp_path / "d", base_url=f"http://127.0.0.1:{port}", timeout_s=5)
    assert list((tmp_path / "d").iterdir()) == [], "no partial file is left"


def test_not_a_zip_is_rejected(server: Server, tmp_path: Path) -> None:
    (server.root / "datasets" / "movielens" / "ml-100k.zip").write_text("<html>maintenance</html>")
    with pytest.raises(DownloadFailed, match="did not return a zip"):
        download("ml-100k", tmp_path / "d", base_url=server.base_url)
    assert list((tmp_path / "d").iterdir()) == []


def test_zip_without_ratings_is_rejected(server: Server, tmp_path: Path) -> None:
    publish(server, "ml-100k", {"ml-100k/README": "nothing here"})
    with pytest.raises(DownloadFailed, match="does not contain MovieLens"):
        download("ml-100k", tmp_path / "d", base_url=server.base_url)
    assert not (tmp_path / "d" / "ml-100k").exists()


def test_unsafe_member_paths_are_refused(server: Server, tmp_path: Path) -> None:
    publish(server, "ml-100k", {"ml-100k/u.data": U_DATA, "../escape.txt": "x"})
    with pytest.raises(DownloadFailed, match="unsafe"):
        download("ml-100k", tmp_path / "d", base_url=server.base_url)
    assert not (tmp_path / "escape.txt").exists()


def test_unknown_name_and_default_url() -> None:
    assert dataset_url("ml-25m") == "https://files.grouplens.org/datasets/movielens/ml-25m.zip"
    assert GROUPLENS_BASE_URL.startswith("https://")
    with pytest.raises(ValueError, match="unknown MovieLens dataset"):
        download("ml-3m", Path("/nonexistent"))


def test_load_dataset_downloads_a_missing_release_or_stands_in_synthetic_data(server: Server, tmp_path: Path) -> None:
    """The one resolver: a missing release is fetched when asked (the CLI, batch, the evaluation), else the
    error says what to run; with ``fallback_synthetic`` (the demo) an unreachable release gives the
    synthetic world instead of failing."""
    publish(
        server,
        "ml-1m",
        {"ml-1m/ratings.dat": "1::10::5::978300760\n", "ml-1m/movies.dat": "10::A (2000)::Drama\n"},
    )
    paths = PathsConfig(datasets_dir=tmp_path / "none", data_dir=tmp_path / "data", datasets_url=server.base_url)
    settings = Settings(paths=paths)
    with pytest.raises(DatasetNotFound, match="hybridrec download ml-1m"):
        load_dataset("ml-1m", None, settings)
    assert server.requests == []
    fetched = load_dataset("ml-1m", None, settings, download_missing=True)
    assert isinstance(fetched, MovieLensDataset) and fetched.path == settings.paths.downloads_dir / "ml-1m"
    with pytest.raises(DatasetNotFound, match="download failed"):
        load_dataset("ml-25m", None, settings, download_missing=True)  # not published: 404
    standin = load_dataset("ml-25m", None, settings, download_missing=True, fallback_synthetic=True, n_events=50)
    assert isinstance(standin, SyntheticDataset) and len(list(standin.interactions())) == 50
