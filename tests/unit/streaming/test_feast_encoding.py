"""The hand-written Value encoding of the speed layer's writer is byte-identical to Feast's protobuf classes."""

from __future__ import annotations

import random

import pytest

from streaming.feast_writer import to_value, value_bytes

CASES = {
    "Int64": [0, 1, 127, 128, 1_795_444_409_663, -1, -(2**63)],
    "Float64": [0.0, 1.5, 1e-300, -3.25],
    "Array(String)": [[], ["a"], ["i12", "é", "x" * 300]],
    "Array(Int64)": [[], [0], [1, -1, 2**40, 1_795_444_409_663]],
    "Array(Float64)": [[], [0.5, 1e10]],
    "Array(Float32)": [[], [0.125, 0.0, 1 / 3], [random.Random(1).random() for _ in range(20)]],
}


@pytest.mark.parametrize("dtype", sorted(CASES))
def test_value_bytes_equal_protobuf(dtype: str) -> None:
    for v in CASES[dtype]:
        assert value_bytes(dtype, v) == to_value("f", v, {"f": dtype}).SerializeToString(), (dtype, v)
