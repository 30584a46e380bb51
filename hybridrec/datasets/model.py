"""Plain domain records every dataset yields, so loaders, producers and trainers share one shape.

They mirror ``protos/hybridrec_pb/events.proto`` (``InteractionEvent``, ``CatalogItem``) by field name and
by enum *name* without importing protobuf, so reading a dataset never depends on generated code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Final, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from hybridrec.contract import ARCHIVE_SCHEMA

EVENT_TYPES: Final[tuple[str, ...]] = (
    "IMPRESSION",
    "PLAY",
    "CLICK",
    "RATING",
    "ADD_TO_LIST",
    "THUMBS",
    "HIDE",
)
"""Names of the ``EventType`` enum values an :class:`Interaction` may carry (``UNSPECIFIED`` excluded)."""

DEVICES: Final[tuple[str, ...]] = ("DEVICE_UNSPECIFIED", "TV", "WEB", "MOBILE", "TABLET", "CONSOLE")
"""Names of the ``Device`` enum values, so producers can map them with ``Device.Value(name)``."""


@dataclass(frozen=True, slots=True)
class Item:
    """One catalog entry; ``year`` is 0 when unknown, as in the ``CatalogItem`` contract."""

    item_id: str
    title: str
    genres: tuple[str, ...]
    year: int


@dataclass(frozen=True, slots=True)
class Interaction:
    """One user event; ``event_id`` is the idempotency key downstream, so loaders make it deterministic."""

    event_id: str
    user_id: str
    item_id: str
    event_type: str
    value: float
    event_time_ms: int
    surface: str = ""
    position: int = -1
    device: str = "DEVICE_UNSPECIFIED"
    country: str = ""


# Slot descriptors of Interaction, in field order, for make_interaction below.
(
    _S_EVENT_ID,
    _S_USER_ID,
    _S_ITEM_ID,
    _S_EVENT_TYPE,
    _S_VALUE,
    _S_TIME,
    _S_SURFACE,
    _S_POSITION,
    _S_DEVICE,
    _S_COUNTRY,
) = (getattr(Interaction, f.name).__set__ for f in fields(Interaction))
_new = object.__new__


def make_interaction(
    event_id: str,
    user_id: str,
    item_id: str,
    event_type: str,
    value: float,
    event_time_ms: int,
    surface: str,
    position: int,
    device: str,
    country: str,
) -> Interaction:
    """Same object as ``Interaction(...)`` with every field given, about twice as fast.

    A frozen dataclass ``__init__`` pays ``object.__setattr__`` per field; bulk generators that build
    millions of events per run set the slots directly instead. Callers must pass every field, already typed.
    """
    obj = _new(Interaction)
    _S_EVENT_ID(obj, event_id)
    _S_USER_ID(obj, user_id)
    _S_ITEM_ID(obj, item_id)
    _S_EVENT_TYPE(obj, event_type)
    _S_VALUE(obj, value)
    _S_TIME(obj, event_time_ms)
    _S_SURFACE(obj, surface)
    _S_POSITION(obj, position)
    _S_DEVICE(obj, device)
    _S_COUNTRY(obj, country)
    return obj


@runtime_checkable
class Dataset(Protocol):
    """What replay, training and tests need from a source of events, whatever its origin.

    ``interactions()`` must yield in non-decreasing ``event_time_ms`` with a deterministic tie order, and
    may be called again to replay from the start. ``batches(size)`` is its columnar twin for bulk consumers
    (replay): the same rows in the same order as record batches of at most ``size`` rows with exactly
    :data:`hybridrec.contract.ARCHIVE_SCHEMA` (``request_id`` and ``variant`` empty), streamed so memory
    stays bounded by ``size`` plus the dataset's own columns. ``count_hint`` is the number of interactions
    when it is known without iterating (for progress bars), else ``None``.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def count_hint(self) -> int | None: ...

    def items(self) -> Iterator[Item]: ...

    def interactions(self) -> Iterator[Interaction]: ...

    def batches(self, size: int) -> Iterator[pa.RecordBatch]: ...


def check_batch_size(size: int) -> int:
    """``size`` as given, if it is a usable batch size (a positive int)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"batch size must be a positive integer, got {size!r}")
    return int(size)


def constant_strings(value: str, n: int) -> pa.StringArray:
    """``n`` copies of ``value`` as a string column, built from buffers (``pa.repeat`` is ~100x slower)."""
    raw = value.encode("utf-8")
    if len(raw) * n > np.iinfo(np.int32).max:
        raise ValueError(f"{n} copies of {value!r} exceed one string column (2 GiB); use smaller batches")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(raw))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw * n))


def strings(values: list[str]) -> pa.StringArray:
    """A string column from Python strings (``pa.array`` would import pandas, ~1.5 s, to check the input)."""
    raw = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, raw), dtype=np.int64, count=len(raw)), out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError(f"{len(values)} strings exceed one string column (2 GiB)")
    return pa.StringArray.from_buffers(len(raw), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(raw)))


def string_scalar(value: str) -> pa.StringScalar:
    """A string scalar for compute calls; a bare ``str`` argument goes through ``pa.scalar``, importing pandas."""
    return strings([value])[0]


def numeric(values: np.ndarray) -> pa.Array:
    """A numeric or boolean numpy array as an arrow array without ``pa.array`` (no pandas import, no checks)."""
    values = np.ascontiguousarray(values)
    n = int(values.shape[0])
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [None, pa.py_buffer(values)])


def archive_batch(columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """A record batch of the archive columns; ``request_id``/``variant`` default to empty strings."""
    n = len(columns["event_id"])
    empty = constant_strings("", n)
    return pa.RecordBatch.from_arrays([columns.get(f.name, empty) for f in ARCHIVE_SCHEMA], schema=ARCHIVE_SCHEMA)


def slices(batch: pa.RecordBatch, size: int) -> Iterator[pa.RecordBatch]:
    """Zero-copy consecutive slices of at most ``size`` rows."""
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)
