"""The batch side of the item-to-item neighbours: sequences in stream order over the model's items."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from batch.config import NeighboursConfig
from batch.neighbours import item_neighbours, sequences


def test_sequences_follow_stream_order_and_drop_items_the_model_lacks(spark: Any) -> None:
    rows = [  # user, item, time, event id, engaged
        ("u1", "b", 20, "e2", True),
        ("u1", "a", 10, "e1", True),
        ("u1", "c", 20, "e0", True),  # same millisecond as b: the event id breaks the tie
        ("u1", "zz", 15, "e9", True),  # not a model item
        ("u1", "a", 30, "e5", False),  # not an engagement
        ("u2", "c", 5, "e7", True),
    ]
    df = spark.createDataFrame(
        rows, "user_id string, item_id string, event_time_ms long, event_id string, engaged boolean"
    )
    items = ["a", "b", "c"]
    seqs = sequences(df, items)
    assert sorted(s.tolist() for s in seqs) == [[0, 2, 1], [2]]
    nb = item_neighbours(seqs, items, NeighboursConfig(window=1, k=5))
    assert nb.of(2)[0].tolist() == [0, 1]  # c sat next to both a and b
    assert nb.of(0)[1] == pytest.approx([1 / np.sqrt(2.0)])  # a–c once; a engaged once, c twice
