"""The learned fusion over FOR_YOU's prior candidates (hybridrec.fusion), on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec import fusion


def test_target_ranks_count_ties_by_candidate_order_and_mark_absent_targets() -> None:
    scores = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.2, 0.2, 0.2], [1.0, 0.0, 0.0, 0.0]])
    got = fusion.target_ranks(scores, np.array([2, 3, -1]))
    assert got.tolist() == [2, 3, -1]


def test_ndcg_at_10_of_ranks() -> None:
    got = fusion.ndcg_at_10(np.array([0, 1, 10, -1]))
    assert got == pytest.approx((1.0 + 1.0 / np.log2(3)) / 4)


def test_score_is_standardised_relu_layers_then_linear() -> None:
    f = fusion.Fusion(
        mean=np.array([1.0, 0.0], np.float32),
        scale=np.array([2.0, 1.0], np.float32),
        layers=(
            (np.array([[1.0, 0.0], [0.0, -1.0]], np.float32), np.array([0.0, 0.5], np.float32)),
            (np.array([[2.0, 3.0]], np.float32), np.array([0.25], np.float32)),
        ),
    )
    x = np.array([[[3.0, 1.0], [1.0, -2.0]]], np.float32)  # standardised: (1, 1) and (0, -2)
    # hidden: relu(1, -0.5) = (1, 0); relu(0, 2.5) = (0, 2.5) → 2·1 + 0.25 and 3·2.5 + 0.25
    assert fusion.Fusion.score(f, x).tolist() == [[2.25, 7.75]]
    again = fusion.Fusion.of_arrays(f.arrays())
    assert again.score(x).tolist() == [[2.25, 7.75]]


@pytest.mark.parametrize("hidden", [0, 8])
def test_fit_learns_which_feature_marks_the_engaged_candidate(hidden: int) -> None:
    """Feature 0 is noise; feature 1 is highest on the engaged candidate, which the prior's order puts anywhere:
    the fitted scorer places it first on held-out users where the prior's order does not."""
    rng = np.random.default_rng(0)
    n, c = 300, 10
    x = rng.normal(size=(n, c, 2)).astype(np.float32)
    target = rng.integers(0, c, size=n)
    target[::10] = -1  # engaged item not among the candidates: held-out NDCG only
    x[np.arange(n), np.maximum(target, 0), 1] += 5.0 * (target >= 0)
    groups = [f"u{k % 50}" for k in range(n)]
    got = fusion.fit(x, target, groups, hidden=hidden, epochs=20, lr=0.03, batch=32, seed=1)
    assert got.dev_ndcg > 0.8 > got.dev_prior_ndcg
    assert got.curve[got.best_epoch] == got.dev_ndcg
    ranks = fusion.target_ranks(got.fusion.score(x), target)
    assert (ranks[target >= 0] == 0).mean() > 0.9
