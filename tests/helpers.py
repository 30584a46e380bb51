"""Helpers for tests that read what the real services produced."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message


def consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Message]:
    """Read a topic from the beginning until ``expected`` records arrived (or time ran out), then a bit more
    so that surplus records would be seen too."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
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
