"""Item-to-item co-occurrence neighbours (hybridrec.neighbours) on a hand-made table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybridrec import neighbours as nb

# Two users: 0 → 1 → 2 and 1 → 0. Engagements per item: 2, 2, 1.
SEQUENCES = [[0, 1, 2], [1, 0]]
COUNTS = np.array([2.0, 2.0, 1.0])
R2 = np.sqrt(2.0)


def test_pairs_count_one_over_distance_both_ways_cosine_normalised() -> None:
    got = nb.cooccurrence(SEQUENCES, COUNTS, window=2)
    # raw: (0,1) 1 + 1 = 2, (1,2) 1, (0,2) 1/2 (two apart); divided by sqrt(count) of both items
    assert got.of(0)[0].tolist() == [1, 2] and got.of(0)[1] == pytest.approx([2 / 2, 0.5 / R2])
    assert got.of(1)[0].tolist() == [0, 2] and got.of(1)[1] == pytest.approx([1.0, 1 / R2])
    assert got.of(2)[0].tolist() == [1, 0] and got.of(2)[1] == pytest.approx([1 / R2, 0.5 / R2])


def test_window_and_k_cut_the_lists() -> None:
    one = nb.cooccurrence(SEQUENCES, COUNTS, window=1)
    assert one.of(0)[0].tolist() == [1] and one.of(2)[0].tolist() == [1]  # 0 and 2 are two apart
    best = nb.cooccurrence(SEQUENCES, COUNTS, window=2, k=1)
    assert [best.of(i)[0].tolist() for i in range(3)] == [[1], [0], [1]]


def test_an_item_next_to_itself_is_not_its_neighbour_and_empty_input_is_empty() -> None:
    got = nb.cooccurrence([[0, 0, 1]], np.array([2.0, 1.0]), window=3)
    assert got.of(0)[0].tolist() == [1] and got.of(1)[0].tolist() == [0]
    assert nb.cooccurrence([[0], []], np.array([1.0, 0.0]), window=3).indices.size == 0


def test_newest_seeds_weigh_most_and_top_agrees_with_the_dense_scores() -> None:
    lists = nb.cooccurrence(SEQUENCES, COUNTS, window=2)
    dense = nb.score_all(lists, [2, 0], decay=0.5)  # 2 is the newest engagement, 0 the one before
    assert dense == pytest.approx([0.5 / R2, 1 / R2 + 0.5 * 1.0, 0.5 * 0.5 / R2])
    pos, score = nb.top(lists, [2, 0], decay=0.5, n=2)
    assert pos.tolist() == [1, 0] and score == pytest.approx(dense[[1, 0]])
    assert nb.top(lists, [-1], 0.5, 5)[0].size == 0  # a seed the model does not know adds nothing


def test_lists_round_trip_and_a_broken_file_is_refused(tmp_path: Path) -> None:
    lists = nb.cooccurrence(SEQUENCES, COUNTS, window=2)
    lists.save(tmp_path / "n.npz")
    back = nb.Neighbours.load(tmp_path / "n.npz")
    assert all(
        (a == b).all()
        for a, b in zip(
            (lists.indptr, lists.indices, lists.scores), (back.indptr, back.indices, back.scores), strict=True
        )
    )
    np.savez(tmp_path / "bad.npz", indptr=np.array([0, 1, 2]), indices=np.array([5, 0]), scores=np.ones(2))
    with pytest.raises(ValueError, match="outside"):
        nb.Neighbours.load(tmp_path / "bad.npz")
