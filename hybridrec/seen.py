"""The compact "already seen" set of a user: sorted 64-bit hashes of item ids, as little-endian bytes.

The batch layer writes one per user into ``user_batch.seen_hashes`` (every item the user engaged with in its
window: hundreds to thousands of ids for a heavy user); serving reads it in the same Redis round trip as the
user's other features and filters every row with it. Hashes instead of ids: 8 bytes per item whatever the id,
decoded without a Python object per item (``np.frombuffer``), tested against a page's candidates with one
``searchsorted``. A false positive (an unseen item hidden) needs a 64-bit collision: about n / 2**64 per
candidate. Both layers import this module, so writer and reader cannot disagree on the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DTYPE = np.dtype("<u8")
EMPTY = np.zeros(0, dtype=DTYPE)


def item_hash(item_id: str) -> int:
    """Stable 64-bit hash of one item id (blake2b: the same on every machine and Python version)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "little")


def hashes(item_ids: Iterable[str]) -> np.ndarray:
    """Hashes of ``item_ids`` in order (uint64)."""
    return np.fromiter((item_hash(i) for i in item_ids), dtype=DTYPE)


def encode(item_ids: Iterable[str]) -> bytes:
    """The stored form: distinct hashes, sorted, little-endian."""
    return np.unique(hashes(item_ids)).astype(DTYPE, copy=False).tobytes()


def decode(raw: bytes | None) -> np.ndarray:
    """The sorted hashes of a stored set (read-only view of ``raw``; empty for None or malformed bytes)."""
    if not raw or len(raw) % DTYPE.itemsize:
        return EMPTY
    return np.frombuffer(raw, dtype=DTYPE)


def union(stored: np.ndarray, item_ids: Iterable[str]) -> np.ndarray:
    """``stored`` (sorted) plus the hashes of ``item_ids``, sorted and distinct."""
    extra = hashes(item_ids)
    return stored if not len(extra) else np.union1d(stored, extra)


def contains(sorted_set: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``candidates`` hashes are in ``sorted_set``."""
    if not len(sorted_set) or not len(candidates):
        return np.zeros(len(candidates), dtype=bool)
    at = np.searchsorted(sorted_set, candidates)
    at[at == len(sorted_set)] = 0
    return sorted_set[at] == candidates
