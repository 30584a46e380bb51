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


def test_features_take_the_priors_best_unengaged_items_and_describe_each() -> None:
    """Two cases over 4 items, two parts (the rest of :data:`PARTS` left out is fine for the layout's logic):
    item 0 engaged in case 0; the prior is part 0 at weight 1, so candidates follow part 0 among unengaged items."""
    inf = np.inf
    part0 = np.array([[-inf, 3.0, 1.0, 2.0], [0.0, 1.0, 4.0, 2.0]])
    part1 = np.array([[-inf, 0.0, 10.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    newest = np.array([[-inf, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    since = np.arange(8, dtype=np.float32).reshape(2, 4)
    genres = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    got = fusion.features(
        [part0, part1],
        [1.0, 0.0],
        newest,
        popularity=np.array([0.5, 1.5, 2.5, 3.5]),
        since_last=since,
        since_first=since + 100,
        user=np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]], np.float32),
        genres=genres,
        taste=np.array([[2.0, 0.0], [0.0, 0.0]]),
        n=3,
    )
    assert got.items.tolist() == [[1, 3, 2], [2, 3, 1]]
    assert got.prior.tolist() == [[1.0, 0.5, 0.0], [1.0, 0.5, 0.25]]
    x = got.x[0]  # case 0, candidates 1, 3, 2; columns: part0 raw/minmax/rank, part1 raw/minmax/rank, prior, ...
    assert x[:, 0].tolist() == [3.0, 2.0, 1.0]
    assert x[:, 1].tolist() == [1.0, 0.5, 0.0]
    assert x[:, 2].tolist() == pytest.approx(np.log1p([0, 1, 2]).tolist())  # rank among the candidates
    assert x[:, 3].tolist() == [0.0, 5.0, 10.0]
    assert x[:, 5].tolist() == pytest.approx(np.log1p([2, 1, 0]).tolist())
    assert x[:, 6].tolist() == [1.0, 0.5, 0.0]  # the prior
    assert x[:, 8].tolist() == [1.0, 0.0, 0.0]  # the newest engagement's part, min-max
    assert x[:, 9].tolist() == [1.5, 3.5, 2.5]  # all-time popularity
    assert x[:, 10].tolist() == [1.0, 3.0, 2.0] and x[:, 11].tolist() == [101.0, 103.0, 102.0]
    assert x[:, 12:15].tolist() == [[1.0, 2.0, 0.0]] * 3
    assert x[:, 15].tolist() == pytest.approx([1.0, 2**-0.5, 0.0])  # genre cosine with the newest engagements
    assert got.x[1, :, 15].tolist() == [0.0, 0.0, 0.0]  # no history: no taste
    assert got.x.shape == (2, 3, 16)
