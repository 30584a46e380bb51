"""Scoring served lists against replay targets, per segment, and the replay table's text."""

from __future__ import annotations

import math

import pytest

from evaluation.cli import render_table
from evaluation.scoring import Catalog, by_segment, score, table
from hybridrec.datasets import Item
from hybridrec.nextitem import Target

ITEMS = [
    Item("a", "A", ("Drama",), 2000),
    Item("b", "B", ("Comedy",), 2000),
    Item("c", "C", ("Drama", "Comedy"), 2000),
    Item("d", "D", (), 2000),
]
CATALOG = Catalog.of(ITEMS, {"a": 3, "b": 1})


def _t(user: str, item: str, returning: bool) -> Target:
    return Target(0, user, item, 0, returning, -1)


def test_score_uses_one_relevant_item_per_target() -> None:
    targets = [_t("u", "a", True), _t("v", "b", False)]
    lists = [["a", "c"], ["c", "d", "b"]]
    out = score(lists, targets, CATALOG, seen=[{"c"}, set()], failed=[False, True])
    assert out["targets"] == 2
    assert out["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(4)) / 2)
    assert out["hr@10"] == out["recall@20"] == 1.0
    assert out["coverage@20"] == pytest.approx(1.0)  # a, b, c, d: the whole catalog of 4
    assert out["seen@20"] == pytest.approx(0.5) and out["degraded"] == 1.0
    h = [-sum(p * math.log2(p) for p in ps) for ps in ((0.75, 0.25), (1 / 6, 1 / 2, 1 / 3))]
    assert out["genre_entropy@20"] == pytest.approx(sum(h) / 2)  # a+c: Drama 1.5, Comedy .5; c+d+b: .5, 1.5, Other 1
    assert CATALOG.share == {"a": 0.75, "b": 0.25}


def test_segments_split_returning_and_new_users() -> None:
    targets = [_t("u", "a", True), _t("v", "b", False), _t("w", "c", False)]
    out = by_segment([["a"], ["x"], ["c"]], targets, CATALOG)
    assert {k: v["targets"] for k, v in out.items()} == {"all": 3, "returning": 1, "new": 2}
    assert out["returning"]["hr@10"] == 1.0 and out["new"]["hr@10"] == 0.5
    modes = {"m": out}
    assert table(modes, "new", ["hr@10"]) == [["m", 0.5]]
    replay = {
        "modes": modes,
        "checks": {"pauses": 2, "state_mismatches": 0, "timed_out_targets": 1, "freshness_timeout_s": 30.0},
    }
    text = render_table(replay)
    assert "new (2 targets)" in text and "1 targets waited past 30 s" in text


def test_only_real_failures_count_as_degraded() -> None:
    from evaluation.client import Call
    from evaluation.replay import failed

    assert not failed(Call(["a"], 1.0, ["user:cold_start", "row:for_you_unavailable"]))  # a new user: no failure
    assert failed(Call(["a"], 1.0, ["features:timeout"])) and failed(Call([], 1.0, error="UNAVAILABLE: down"))
