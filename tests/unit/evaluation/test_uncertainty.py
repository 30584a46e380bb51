"""The replay's intervals: a paired bootstrap over users (evaluation.uncertainty)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.uncertainty import Bootstrap, comparisons, ndcg_per_target
from hybridrec.nextitem import Target


def _target(user: str, item: str) -> Target:
    return Target(0, user, item, 0, True, -1)


def test_ndcg_per_target_reads_the_rank_of_the_one_engaged_item() -> None:
    targets = [_target("u", "a"), _target("u", "b"), _target("v", "c")]
    got = ndcg_per_target([["a", "x"], ["x", "b"], ["x"] * 10 + ["c"]], targets)
    assert got.tolist() == pytest.approx([1.0, 1.0 / math.log2(3), 0.0])


def test_a_ratio_is_paired_a_mode_twice_as_good_on_every_target_is_exactly_twice() -> None:
    """Both sides of a ratio come from the same resampled users: a constant factor has no spread, however much the
    targets themselves vary."""
    rng = np.random.default_rng(1)
    b = rng.random(300)
    users = [f"u{k % 40}" for k in range(300)]
    r = Bootstrap(users, draws=500).ratio(2.0 * b, b)
    assert r.value == pytest.approx(2.0) and r.low == pytest.approx(2.0) and r.high == pytest.approx(2.0)
    m = Bootstrap(users, draws=500).mean(b)
    assert m.value == pytest.approx(b.mean()) and m.low < m.value < m.high


def test_a_user_s_targets_move_together_so_few_heavy_users_give_a_wide_interval() -> None:
    """The same 400 values, once as 400 users with one target each and once as 8 users with 50 each whose targets
    are alike: resampling users, the second interval must be the wider (targets resampled alone would not see it)."""
    rng = np.random.default_rng(2)
    level = np.repeat(rng.random(8), 50)
    values = level + 0.01 * rng.random(400)
    alone = Bootstrap([f"u{k}" for k in range(400)], draws=800).mean(values)
    heavy = Bootstrap([f"u{k // 50}" for k in range(400)], draws=800).mean(values)
    assert alone.value == pytest.approx(heavy.value)
    assert heavy.high - heavy.low > 3 * (alone.high - alone.low)


def test_the_95_percent_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    """Simulated replays from a known population of users (each with a level and a few noisy targets): the
    interval of the mean must hold the population's mean in roughly 95 of 100 replays."""
    rng = np.random.default_rng(3)
    covered, runs = 0, 200
    for _ in range(runs):
        n_users = 60
        sizes = rng.integers(1, 12, n_users)
        level = rng.beta(2, 8, n_users)  # population mean 0.2
        values = np.concatenate([lv + 0.1 * rng.standard_normal(s) for lv, s in zip(level, sizes, strict=True)])
        users = [f"u{k}" for k, s in enumerate(sizes) for _ in range(s)]
        # the population mean over targets weights users by their expected number of targets: equal here
        got = Bootstrap(users, draws=400, seed=int(rng.integers(1 << 30))).mean(values)
        covered += got.low <= 0.2 <= got.high
    assert 0.88 * runs <= covered <= 0.995 * runs, covered


def test_comparisons_judge_the_hybrid_against_the_served_modes_and_the_best_baseline() -> None:
    rng = np.random.default_rng(4)
    targets = [_target(f"u{k % 30}", f"i{k}") for k in range(200)]
    base = rng.random(200)
    per_target = {
        "popularity": 0.5 * base,
        "batch-only": 0.4 * base,
        "hybrid": 1.5 * base,
        "EASE": 1.0 * base,
        "item-to-item (co-occurrence)": 1.25 * base,
    }
    got = comparisons(
        per_target, targets, ("popularity", "batch-only", "hybrid"), ["EASE", "item-to-item (co-occurrence)"]
    )
    assert got["users"] == 30 and set(got["ndcg@10"]) == set(per_target)
    ratios = got["ratios"]
    assert ratios["hybrid / batch-only"]["value"] == pytest.approx(3.75, abs=1e-3)
    assert ratios["hybrid / popularity"]["value"] == pytest.approx(3.0, abs=1e-3)
    best = ratios["hybrid / best baseline"]
    assert best["baseline"] == "item-to-item (co-occurrence)" and best["value"] == pytest.approx(1.2, abs=1e-3)
    assert "hybrid / best baseline" not in comparisons(per_target, targets, ("hybrid",), [])["ratios"]


def test_two_runs_are_compared_on_the_targets_they_share_and_saved_runs_read_back(tmp_path: Path) -> None:
    """``hybridrec eval compare``: targets paired by (user, item, time) whatever their order in each run; a run
    whose hybrid is 10 % better on every shared target is exactly 1.1× with no spread; a target only one run has
    is left out; per_target.json round-trips."""
    from evaluation.uncertainty import PerTarget, compare_runs, load_per_target, save_per_target

    rng = np.random.default_rng(5)
    keys = [(f"u{k % 25}", f"i{k}", 1000 + k) for k in range(150)]
    base = rng.random(150)
    a = PerTarget(keys, {"hybrid": base, "popularity": 0.5 * base})
    order = rng.permutation(150)[:140]  # B lost ten targets and lists the rest in another order
    b = PerTarget(
        [keys[k] for k in order] + [("u99", "x", 1)],
        {"hybrid": np.r_[1.1 * base[order], 1.0], "popularity": np.r_[0.5 * base[order], 0.0]},
    )
    got = compare_runs(load_per_target(save_per_target(a, tmp_path / "a.json")), b)
    assert got["targets"] == {"a": 150, "b": 141, "shared": 140}
    hybrid = got["modes"]["hybrid"]
    assert hybrid["b"] == pytest.approx(1.1 * base[order].mean(), abs=1e-4)
    assert hybrid["b / a"] == {"value": pytest.approx(1.1), "low": pytest.approx(1.1), "high": pytest.approx(1.1)}
    assert got["modes"]["popularity"]["b / a"]["value"] == pytest.approx(1.0)
    assert set(compare_runs(a, b, ["hybrid", "absent"])["modes"]) == {"hybrid"}
