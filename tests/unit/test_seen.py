"""The compact seen set shared by the batch layer (writer) and serving (reader)."""

from __future__ import annotations

import numpy as np

from hybridrec import seen


def test_encode_decode_and_membership() -> None:
    ids = ["1", "42", "Toy Story", "42", "x" * 100]
    raw = seen.encode(ids)
    assert len(raw) == 8 * 4, "distinct ids, 8 bytes each"
    stored = seen.decode(raw)
    assert stored.tolist() == sorted(stored.tolist())
    assert seen.contains(stored, seen.hashes(["42", "43", "1", "Toy Story"])).tolist() == [True, False, True, True]
    both = seen.union(stored, ["43", "1"])
    assert seen.contains(both, seen.hashes(["43"])).all() and len(both) == 5


def test_the_hash_is_stable_across_processes_and_versions() -> None:
    # Written by one process (the nightly batch), read by another (serving): never Python's salted hash().
    assert (
        seen.item_hash("42")
        == seen.item_hash("42")
        == int.from_bytes(__import__("hashlib").blake2b(b"42", digest_size=8).digest(), "little")
    )


def test_absent_or_malformed_sets_are_empty() -> None:
    for raw in (None, b"", b"\x01\x02\x03"):
        assert len(seen.decode(raw)) == 0
    assert not seen.contains(seen.EMPTY, seen.hashes(["a"])).any()
    assert seen.contains(np.sort(seen.hashes(["a"])), seen.EMPTY).shape == (0,)
