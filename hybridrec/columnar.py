"""Validating and protobuf-encoding whole batches of events at once, for bulk replay.

Per-event Python (build a message, check a dozen fields, serialize) costs ~20 µs, which caps a replay at
~50k events/s. Here the same rules run as numpy/Arrow column operations, and the ``InteractionEvent`` wire
bytes are assembled column-wise: each field becomes a binary column (tag + varint/length + payload, empty
when proto3 would omit the field) and Arrow joins them row-wise in C++. The output is byte-identical to
``InteractionEvent.SerializeToString()`` and the reasons identical to :func:`hybridrec.events.validate`;
the unit tests hold both to that.

Input batches use the archive columns (``hybridrec.contract.ARCHIVE_SCHEMA``): enum fields by name.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybridrec import events
from hybridrec.config import ValidationConfig
from hybridrec_pb.events_pb2 import Device, EventType

_EVENT_TYPE_NAMES = pa.array(list(EventType.keys()))
_EVENT_TYPE_NUMBERS = np.array(list(EventType.values()), dtype=np.int64)
_DEVICE_NAMES = pa.array(list(Device.keys()))
_DEVICE_NUMBERS = np.array(list(Device.values()), dtype=np.int64)

# (field number, column) of InteractionEvent in field-number order, which is the order protobuf writes.
_STRING_FIELDS = {
    1: "event_id",
    2: "user_id",
    3: "item_id",
    7: "surface",
    9: "request_id",
    10: "variant",
    12: "country",
}
_VARINT_FIELDS = {4: "event_type", 6: "event_time_ms", 8: "position", 11: "device"}
_DOUBLE_FIELD = (5, "value")


def _enum_numbers(column: pa.Array, names: pa.Array, numbers: np.ndarray) -> np.ndarray:
    """Enum names → numbers; an unknown name becomes -1 (never a valid enum number here)."""
    idx = pc.fill_null(pc.index_in(column, value_set=names), -1).to_numpy(zero_copy_only=False)
    return np.where(idx >= 0, numbers[np.maximum(idx, 0)], -1)


def _from_rows(matrix: np.ndarray, lengths: np.ndarray) -> pa.BinaryArray:
    """A binary column whose row i is the first ``lengths[i]`` bytes of ``matrix[i]``."""
    width = matrix.shape[1]
    keep = np.arange(width)[None, :] < lengths[:, None]
    data = matrix[keep]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    )


def _varint_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-128 varints of int64 values (negatives as 10-byte two's complement, as protobuf does).

    Only as many byte columns as the longest varint needs are computed, so short values stay cheap."""
    v = values.astype(np.int64).view(np.uint64)
    lengths = np.ones(len(v), dtype=np.int64)
    for k in range(1, 10):
        longer = v >= np.uint64(1 << (7 * k))
        if not longer.any():
            break
        lengths += longer
    width = int(lengths.max()) if len(v) else 1
    groups = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width):
        byte = ((v >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        groups[:, k] = byte | np.where(k < lengths - 1, 0x80, 0).astype(np.uint8)
    return groups, lengths


def _varint_field(number: int, values: np.ndarray) -> pa.BinaryArray:
    groups, lengths = _varint_rows(values)
    tag = np.full((len(values), 1), number << 3, dtype=np.uint8)
    omit = values == 0
    return _from_rows(np.hstack([tag, groups]), np.where(omit, 0, lengths + 1))


def _string_field(number: int, column: pa.Array) -> pa.Array:
    data = pc.cast(column, pa.binary())
    lengths = pc.binary_length(data).to_numpy(zero_copy_only=False).astype(np.int64)
    groups, nlen = _varint_rows(lengths)
    tag = np.full((len(lengths), 1), (number << 3) | 2, dtype=np.uint8)
    prefix = _from_rows(np.hstack([tag, groups]), nlen + 1)
    joined = pc.binary_join_element_wise(prefix, data, b"")
    return pc.if_else(pc.equal(lengths, 0), pa.scalar(b"", pa.binary()), joined)


def _double_field(number: int, values: np.ndarray) -> pa.BinaryArray:
    raw = values.astype("<f8")
    body = raw.view(np.uint8).reshape(-1, 8)
    tag = np.full((len(values), 1), (number << 3) | 1, dtype=np.uint8)
    omit = raw.view(np.uint64) == 0  # proto3 omits +0.0 only; -0.0 has a sign bit and is written
    return _from_rows(np.hstack([tag, body]), np.where(omit, 0, 9))


def encode(batch: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
    """Serialize every row as ``InteractionEvent`` wire bytes (byte-identical to the protobuf runtime)."""
    cols = {name: batch.column(name) for name in batch.schema.names}
    enums = {
        "event_type": _enum_numbers(cols["event_type"], _EVENT_TYPE_NAMES, _EVENT_TYPE_NUMBERS),
        "device": _enum_numbers(cols["device"], _DEVICE_NAMES, _DEVICE_NUMBERS),
    }
    fields: list[tuple[int, pa.Array]] = []
    for number, name in _STRING_FIELDS.items():
        fields.append((number, _string_field(number, cols[name])))
    for number, name in _VARINT_FIELDS.items():
        values = enums[name] if name in enums else cols[name].to_numpy(zero_copy_only=False)
        fields.append((number, _varint_field(number, np.asarray(values, dtype=np.int64))))
    fields.append((_DOUBLE_FIELD[0], _double_field(_DOUBLE_FIELD[0], cols["value"].to_numpy(zero_copy_only=False))))
    fields.sort(key=lambda f: f[0])
    return pc.binary_join_element_wise(*[f[1] for f in fields], b"")


def to_bytes_list(column: pa.Array | pa.ChunkedArray) -> list[bytes]:
    """Rows of a string/binary column as Python ``bytes``, sliced straight from the Arrow buffers.

    ``Array.to_pylist()`` builds a scalar object per row first and costs ~1.5 µs a row; this ~0.1 µs."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.cast(pa.binary()) if not pa.types.is_binary(column.type) else column
    if column.null_count:
        raise ValueError("null values cannot become Kafka records")
    _, offsets_buf, data_buf = column.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    data = data_buf.to_pybytes() if data_buf is not None else b""
    bounds = offsets.tolist()
    return [data[a:b] for a, b in pairwise(bounds)]


def validate(batch: pa.RecordBatch | pa.Table, cfg: ValidationConfig, now_ms: int) -> list[str | None]:
    """Per row, the reason :func:`hybridrec.events.validate` would give, or ``None``. Same rule order."""
    n = batch.num_rows
    lengths = {
        c: pc.utf8_length(batch.column(c)).to_numpy(zero_copy_only=False) for c in ("event_id", "user_id", "item_id")
    }
    etype = _enum_numbers(batch.column("event_type"), _EVENT_TYPE_NAMES, _EVENT_TYPE_NUMBERS)
    device = _enum_numbers(batch.column("device"), _DEVICE_NAMES, _DEVICE_NUMBERS)
    t = batch.column("event_time_ms").to_numpy(zero_copy_only=False)
    value = batch.column("value").to_numpy(zero_copy_only=False)
    limit = cfg.max_id_length
    rules: list[tuple[str, np.ndarray]] = [
        (events.MISSING_EVENT_ID, lengths["event_id"] == 0),
        (events.MISSING_USER_ID, lengths["user_id"] == 0),
        (events.MISSING_ITEM_ID, lengths["item_id"] == 0),
        (
            events.ID_TOO_LONG,
            (lengths["event_id"] > limit) | (lengths["user_id"] > limit) | (lengths["item_id"] > limit),
        ),
        (events.MISSING_EVENT_TYPE, etype == EventType.EVENT_TYPE_UNSPECIFIED),
        (events.UNKNOWN_EVENT_TYPE, etype < 0),
        (events.UNKNOWN_DEVICE, device < 0),
        (events.EVENT_TIME_MISSING_OR_TOO_OLD, t < cfg.min_event_time_ms),
        (events.EVENT_TIME_IN_FUTURE, t > now_ms + cfg.max_future_skew_s * 1000),
        (events.NON_FINITE_VALUE, ~np.isfinite(value)),
        (events.RATING_OUT_OF_RANGE, (etype == EventType.RATING) & ~((value >= 0.5) & (value <= 5.0))),
        (events.THUMBS_NOT_PLUS_MINUS_ONE, (etype == EventType.THUMBS) & (value != 1.0) & (value != -1.0)),
    ]
    reasons: list[str | None] = [None] * n
    undecided = np.ones(n, dtype=bool)
    for reason, failed in rules:
        hit = failed & undecided
        for i in np.flatnonzero(hit):
            reasons[i] = reason
        undecided &= ~hit
    return reasons
