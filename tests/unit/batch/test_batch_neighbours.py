"""The batch side of the item-to-item neighbours: sequences in stream order over the model's items."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from batch.config import NeighboursConfig
from batch.neighbours import engagements, item_neighbours


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
    seqs = engagements(df, items).sequences()
    assert sorted(s.tolist() for s in seqs) == [[0, 2, 1], [2]]
    nb = item_neighbours(seqs, items, NeighboursConfig(window=1, k=5))
    assert nb.of(2)[0].tolist() == [0, 1]  # c sat next to both a and b
    assert nb.of(0)[1] == pytest.approx([1 / np.sqrt(2.0)])  # a–c once; a engaged once, c twice


def test_engagements_are_in_stream_order_and_the_prior_is_chosen_from_them(spark: Any) -> None:
    from batch.config import EaseConfig, PriorConfig
    from batch.neighbours import choose_prior

    pairs = [(u, i) for u in range(6) for i in "abc"]  # users 0-5 engage a, b, c; then u9 a and b
    rows = [(f"u{u}", i, 1_000 * n, f"e{n:03d}", True) for n, (u, i) in enumerate(pairs)]
    rows += [("u9", "a", 90_000, "e900", True), ("u9", "b", 91_000, "e901", True), ("u0", "zz", 5, "e999", True)]
    df = spark.createDataFrame(
        rows, "user_id string, item_id string, event_time_ms long, event_id string, engaged boolean"
    )
    e = engagements(df, ["a", "b", "c"])
    assert e.times.tolist() == sorted(e.times.tolist()) and e.items[1] == -1  # zz: outside the vocabulary
    cfg = PriorConfig(weights=((0.0, 0.0), (0.3, 0.2)), validation_fraction=0.1)
    got = choose_prior(e, ["a", "b", "c"], NeighboursConfig(window=2, k=5), EaseConfig(lam=1.0), cfg)
    # the last 3 rows are validation targets: u5's c, u9's a and b (known items, new to the user)
    assert got is not None and got.targets == 3 and {(s[0], s[1]) for s in got.scored} == {(0.0, 0.0), (0.3, 0.2)}
