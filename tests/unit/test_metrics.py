import math

import pytest

from hybridrec import metrics


def test_recall_ndcg_map_on_hand_computed_lists() -> None:
    ranked = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert metrics.recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / ideal)
    assert metrics.average_precision_at_k(ranked, relevant, 4) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_perfect_and_empty_rankings() -> None:
    assert metrics.ndcg_at_k(["x", "y"], {"x", "y"}, 10) == pytest.approx(1.0)
    assert metrics.average_precision_at_k(["x", "y"], {"x", "y"}, 10) == pytest.approx(1.0)
    assert metrics.recall_at_k(["q"], set(), 5) == 0.0


def test_coverage_entropy_novelty() -> None:
    recs = {"u1": ["a", "b"], "u2": ["a", "c"]}
    assert metrics.catalog_coverage(recs, 10, 2) == pytest.approx(0.3)
    genres = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 0.0]}
    assert metrics.genre_entropy(["a", "b"], genres, 2) == pytest.approx(1.0)
    assert metrics.genre_entropy(["a", "c"], genres, 2) == pytest.approx(0.0)
    share = {"a": 0.5, "b": 0.25}
    assert metrics.novelty(["a", "b"], share, 2, floor=0.01) == pytest.approx((1 + 2) / 2)
    assert metrics.novelty(["zz"], share, 1, floor=0.125) == pytest.approx(3.0)


def test_evaluate_skips_users_without_relevant_items() -> None:
    out = metrics.evaluate(
        {"u1": ["a"], "u2": ["b"]},
        {"u1": {"a"}},
        [1],
        catalog_size=2,
        item_genres={},
        item_share={"a": 0.5},
        novelty_floor=0.1,
    )
    assert out["cases"] == 1
    assert out["recall@1"] == pytest.approx(1.0)
