"""Deterministic A/B assignment: a user always lands in the same arm for a given salt, across processes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from serving.config import Variant


def bucket(unit: str, salt: str) -> float:
    """A stable uniform number in [0, 1) for ``unit`` (sha256, so no process-seeded hash)."""
    digest = hashlib.sha256(f"{salt}\x00{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(unit: str, variants: Sequence[Variant], salt: str) -> Variant:
    """The arm of ``unit`` (a user id; the request id for anonymous calls), proportional to the weights."""
    total = sum(v.weight for v in variants)
    x = bucket(unit, salt) * total
    acc = 0.0
    for v in variants:
        acc += v.weight
        if x < acc:
            return v
    return variants[-1]
