"""The columnar fast path must agree exactly with the protobuf runtime and the scalar validator."""

from __future__ import annotations

import math
import random

import pyarrow as pa

from hybridrec import columnar
from hybridrec.config import ValidationConfig
from hybridrec.contract import archive_table
from hybridrec.events import make_event, validate
from hybridrec_pb.events_pb2 import InteractionEvent

CFG = ValidationConfig()
NOW = 1_750_000_000_000
TYPES = ["IMPRESSION", "PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS", "HIDE"]


def _random_rows(n: int, seed: int) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        etype = rnd.choice(TYPES)
        rows.append(
            {
                "event_id": f"ev-{seed}-{i}" if rnd.random() > 0.02 else "",
                "user_id": rnd.choice(["", "u", "ü-ser", "u" * 127, "u" * 128, "u" * 129, str(rnd.randrange(10**9))]),
                "item_id": str(rnd.randrange(1, 10 ** rnd.randrange(1, 12))),
                "event_type": etype,
                "value": rnd.choice([0.0, -0.0, 0.5, 4.5, 5.0, 5.5, -1.0, 1.0, 1234.25, math.nan, math.inf, 1e-300]),
                "event_time_ms": rnd.choice(
                    [0, 1, 127, 128, 16383, 16384, NOW - rnd.randrange(10**10), NOW + 10**6, 2**62, -5]
                ),
                "surface": rnd.choice(["", "homepage/trending_now", "x" * 300]),
                "position": rnd.choice([-1, 0, 1, 19, 127, 128, 2**31 - 1, -(2**31)]),
                "request_id": rnd.choice(["", "r-1"]),
                "variant": rnd.choice(["", "A", "B"]),
                "device": rnd.choice(["DEVICE_UNSPECIFIED", "TV", "WEB", "MOBILE", "TABLET", "CONSOLE"]),
                "country": rnd.choice(["", "NL", "US"]),
            }
        )
    return rows


def _proto(row: dict[str, object]) -> InteractionEvent:
    return make_event(**row)  # type: ignore[arg-type]


def test_encoding_is_byte_identical_to_protobuf() -> None:
    rows = _random_rows(5000, seed=1)
    encoded = columnar.encode(archive_table(rows)).to_pylist()
    for row, got in zip(rows, encoded, strict=True):
        assert got == _proto(row).SerializeToString(), row


def test_batch_validation_gives_the_scalar_reasons() -> None:
    rows = _random_rows(5000, seed=2)
    reasons = columnar.validate(archive_table(rows), CFG, NOW)
    assert reasons == [validate(_proto(r), CFG, NOW) for r in rows]
    assert {r for r in reasons if r} >= {
        "missing_user_id",
        "id_too_long",
        "event_time_in_future",
        "rating_out_of_range",
        "non_finite_value",
    }


def test_unknown_enum_names_are_rejected_not_encoded_as_zero() -> None:
    table = archive_table(
        [
            {
                "event_id": "e",
                "user_id": "u",
                "item_id": "i",
                "event_type": "TELEPORT",
                "event_time_ms": NOW,
                "device": "FRIDGE",
            }
        ]
    )
    assert columnar.validate(table, CFG, NOW) == ["unknown_event_type"]
    table = table.set_column(3, "event_type", pa.array(["PLAY"]))
    assert columnar.validate(table, CFG, NOW) == ["unknown_device"]


def test_to_bytes_list_handles_slices_chunks_and_empty_rows() -> None:
    column = pa.array(["", "a", "bé", "", "xyz" * 50])
    assert columnar.to_bytes_list(column) == [s.encode() for s in column.to_pylist()]
    assert columnar.to_bytes_list(column.slice(1, 3)) == [b"a", "bé".encode(), b""]
    chunked = pa.chunked_array([column.slice(0, 2), column.slice(2)])
    assert columnar.to_bytes_list(chunked) == [s.encode() for s in column.to_pylist()]
    assert columnar.to_bytes_list(pa.array([], pa.string())) == []
