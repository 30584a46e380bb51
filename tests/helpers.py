"""Helpers for tests that read what the real services produced."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
import uuid
from types import ModuleType
from typing import Any

from confluent_kafka import Consumer, Message


def consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Message]:
    """Read a topic from the beginning until ``expected`` records arrived (or time ran out), then a bit more
    so that surplus records would be seen too."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    grace_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, timeout=0.5)
            for msg in batch:
                if msg.error():
                    raise RuntimeError(msg.error())
                out.append(msg)
            if len(out) >= expected:
                grace_until = grace_until or time.monotonic() + 1.5
                if time.monotonic() > grace_until:
                    break
    finally:
        consumer.close()
    return out


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_local_services() -> ModuleType:
    """deploy/local_services.py as a module (it is a script, not part of a package)."""
    from hybridrec.config import PROJECT_ROOT

    if "local_services" not in sys.modules:
        spec = importlib.util.spec_from_file_location("local_services", PROJECT_ROOT / "deploy" / "local_services.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["local_services"] = module
        spec.loader.exec_module(module)
    return sys.modules["local_services"]


def mutated(event: Any, **changes: object) -> bytes:
    """The wire bytes of a copy of a protobuf ``event`` with some fields set (malformed-record corpora)."""
    copy = type(event)()
    copy.CopyFrom(event)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy.SerializeToString()
