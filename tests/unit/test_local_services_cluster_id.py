"""The KRaft cluster id given to kafka-storage format: never one the tool would parse as an option."""

from __future__ import annotations

import base64
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import load_local_services


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    services = load_local_services()
    dash = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64url "-A…": argparse reads it as an option
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    drawn = iter([dash, dash, plain])
    monkeypatch.setattr(services.uuid, "uuid4", lambda: next(drawn))
    cid = services.cluster_id()
    assert cid == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=") and len(cid) == 22


def test_nodes_formatted_in_parallel_share_one_complete_id(tmp_path: Path) -> None:
    """`up_together` formats a cluster's nodes at once: each must read the same, complete id (a fresh clone's
    chaos suite once formatted node 1 with an empty id read while another node was still writing it)."""
    services = load_local_services()
    for attempt in range(30):
        path = tmp_path / f"run-{attempt}" / "cluster.id"
        start = threading.Barrier(8)

        def shared(path: Path = path, start: threading.Barrier = start) -> str:
            start.wait()
            return services._shared_cluster_id(path)

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = set(pool.map(lambda _: shared(), range(8)))
        assert len(ids) == 1 and len(ids.pop()) == 22
        assert [p.name for p in path.parent.iterdir()] == ["cluster.id"]  # no temporary file left behind


def test_a_node_of_another_cluster_is_refused_with_what_to_do(tmp_path: Path) -> None:
    services = load_local_services()
    id_file = tmp_path / "cluster.id"
    id_file.write_text("ogExw-wKSsioTzTDsoZSwA")
    meta = tmp_path / "node-1" / "data" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("version=1\ncluster.id=\nnode.id=1\n")
    with pytest.raises(services.ServiceError, match=r"belongs to another cluster.*make kafka-cluster-down"):
        services._check_cluster_id(meta, id_file)
    meta.write_text("version=1\ncluster.id=ogExw-wKSsioTzTDsoZSwA\nnode.id=1\n")
    services._check_cluster_id(meta, id_file)


def test_without_an_id_file_a_formatted_node_s_id_becomes_the_cluster_s(tmp_path: Path) -> None:
    services = load_local_services()
    id_file = tmp_path / "cluster.id"
    meta = tmp_path / "node-1" / "data" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("version=1\ncluster.id=ogExw-wKSsioTzTDsoZSwA\nnode.id=1\n")
    services._check_cluster_id(meta, id_file)
    assert id_file.read_text() == "ogExw-wKSsioTzTDsoZSwA"
