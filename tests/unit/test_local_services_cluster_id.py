"""The KRaft cluster id given to kafka-storage format: never one the tool would parse as an option."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.helpers import load_local_services


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    services = load_local_services()
    dash = uuid.UUID(bytes=b"\xf8" + bytes(15))   # base64url "-A…": argparse reads it as an option
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    drawn = iter([dash, dash, plain])
    monkeypatch.setattr(services.uuid, "uuid4", lambda: next(drawn))
    cid = services.cluster_id()
    assert cid == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=") and len(cid) == 22
