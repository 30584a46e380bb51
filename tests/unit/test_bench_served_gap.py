"""benchmarks/served_gap.py's ranking of a target among the items a row could hold."""

from __future__ import annotations

import numpy as np

from benchmarks.served_gap import ndcg, ranks


def test_a_target_ranks_among_the_finite_scores_ties_to_the_lower_position() -> None:
    scores = np.array(
        [
            [0.5, -np.inf, 0.9, 0.5],  # item 3 ties item 0, which comes first; the seen item does not count
            [0.1, 0.2, 0.3, 0.4],
            [0.1, -np.inf, 0.3, 0.4],
        ]
    )
    assert ranks(scores, np.array([3, 0, 1])).tolist() == [2, 3, -1]
    assert ranks(scores, np.array([-1, 3, 2])).tolist() == [-1, 0, 1]


def test_ndcg_counts_the_first_ten_ranks_only() -> None:
    got = ndcg(np.array([0, 1, 9, 10, -1]))
    assert np.allclose(got, [1.0, 1 / np.log2(3), 1 / np.log2(11), 0.0, 0.0])
