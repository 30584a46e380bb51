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


def test_backward_pairs_weigh_less_and_zero_keeps_only_what_came_next() -> None:
    # raw forward: (0→1) 1 (user one), (1→0) 1 (user two), (1→2) 1, (0→2) 1/2; backward: the reverse × 0.25
    got = nb.cooccurrence(SEQUENCES, COUNTS, window=2, backward=0.25)
    assert got.of(2)[0].tolist() == [1, 0] and got.of(2)[1] == pytest.approx([0.25 / R2, 0.125 / R2])
    assert got.of(1)[0].tolist() == [2, 0] and got.of(1)[1] == pytest.approx([1 / R2, 1.25 / 2])
    forward = nb.cooccurrence(SEQUENCES, COUNTS, window=2, backward=0.0)
    assert forward.of(2)[0].size == 0  # 2 was every sequence's last item: nothing came after it
    assert forward.of(0)[0].tolist() == [1, 2] and forward.of(0)[1] == pytest.approx([1 / 2, 0.5 / R2])


def test_alpha_moves_the_norm_between_the_seed_and_the_neighbour() -> None:
    counts = np.array([4.0, 1.0, 1.0])  # 0 is popular
    seqs = [[0, 1], [2, 1]]
    for alpha in (0.0, 0.5, 0.8):
        got = nb.cooccurrence(seqs, counts, window=1, alpha=alpha)
        assert got.of(0)[1] == pytest.approx([1 / 4**alpha])  # row 0: count_0^alpha · count_1^(1 − alpha)
        assert got.of(1)[0].tolist() == [2, 0]  # from 1, the rare 2 beats the popular 0 ...
        assert got.of(1)[1] == pytest.approx([1.0, 1 / 4 ** (1 - alpha)])  # ... by count_0^(1 − alpha)


def test_damping_weighs_a_long_sequence_s_pairs_less() -> None:
    seqs = [[0, 1], [0, 2, 3, 4]]  # (0, 1) from a user of 2 engagements, (0, 2) from one of 4
    got = nb.cooccurrence(seqs, np.ones(5), window=1, damping=1.0)
    assert got.of(0)[0].tolist() == [1, 2] and got.of(0)[1] == pytest.approx([1 / 2, 1 / 4])
    assert nb.cooccurrence(seqs, np.ones(5), window=1).of(0)[1] == pytest.approx([1.0, 1.0])


def test_the_defaults_are_the_symmetric_cosine_exactly() -> None:
    rng = np.random.default_rng(3)
    seqs = [rng.integers(0, 30, rng.integers(1, 40)).tolist() for _ in range(50)]
    counts = np.bincount(np.concatenate(seqs), minlength=30).astype(np.float64)
    plain = nb.cooccurrence(seqs, counts, window=5, k=10)
    explicit = nb.cooccurrence(seqs, counts, window=5, k=10, backward=1.0, alpha=0.5, damping=0.0)
    for a, b in zip(
        (plain.indptr, plain.indices, plain.scores), (explicit.indptr, explicit.indices, explicit.scores), strict=True
    ):
        assert np.array_equal(a, b)
    raw = nb.cooccurrence(seqs, np.ones(30), window=5)  # unnormalised sums, every neighbour kept
    root = np.sqrt(np.maximum(counts, 1.0))
    for item in range(30):
        sums = dict(zip(*raw.of(item), strict=True))
        cols, got = plain.of(item)
        assert got == pytest.approx([sums[j] / root[item] / root[j] for j in cols], rel=1e-6)


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


def _dense_ease(seqs: list[list[int]], n: int, lam: float) -> np.ndarray:
    """EASE's closed form by the book on the binary user × item matrix (every item kept)."""
    x = np.zeros((len(seqs), n))
    for r, s in enumerate(seqs):
        x[r, s] = 1.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(n))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def test_ease_lists_are_the_largest_positive_weights_of_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    seqs = [rng.choice(8, size=int(rng.integers(2, 6)), replace=False).tolist() for _ in range(40)]
    b = _dense_ease(seqs, 8, lam=5.0)
    got = nb.ease(seqs, 8, lam=5.0, k=3, max_items=100)
    for j in range(8):
        pos, w = got.of(j)
        want = [i for i in np.argsort(-b[j], kind="stable")[:3] if b[j, i] > 0]
        assert pos.tolist() == want and w == pytest.approx(b[j, want], rel=1e-4)
    # scoring a user sums the rows of everything they engaged with (decay 1), truncated to the lists
    user = [1, 4]
    dense = np.zeros(8)
    for j in user:
        pos, w = got.of(j)
        dense[pos] += w
    assert nb.score_all(got, user, 1.0) == pytest.approx(dense)


def test_ease_keeps_the_most_engaged_items_and_leaves_out_items_of_one_user() -> None:
    seqs = [[0, 1], [0, 1, 2], [0, 2], [0, 3]]  # users per item: 4, 2, 2, 1
    got = nb.ease(seqs, 5, lam=1.0, k=5, max_items=2)
    kept = {j for j in range(5) if len(got.of(j)[0])} | set(got.indices.tolist())
    assert kept <= {0, 1} and got.n_items == 5  # item 3 (one user) and 4 (none) never; 2 is beyond max_items
    assert len(nb.ease([[0], [1]], 3, lam=1.0, k=5, max_items=10).indices) == 0  # nothing engaged twice


def test_sequences_without_a_pair_of_distinct_items_give_empty_lists() -> None:
    """One item repeated, or single engagements: nothing co-occurs (the lists are empty, not an error)."""
    got = nb.cooccurrence([[3, 3, 3], [1], []], np.array([0, 1, 0, 3]), window=5)
    assert got.n_items == 4 and len(got.indices) == 0
    assert nb.score_all(got, [3, 1], 0.7).tolist() == [0.0] * 4
