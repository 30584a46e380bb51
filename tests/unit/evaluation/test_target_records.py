"""The replay's per-target dump (``--dump-targets``): each target with what every mode served and its rank."""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation import cli
from evaluation.client import Call
from evaluation.replay import target_records
from hybridrec.nextitem import Target


def test_each_target_carries_every_modes_row_and_the_targets_rank() -> None:
    targets = [
        Target(position=3, user_id="u1", item_id="b", time_ms=100, returning=True, after_ms=90),
        Target(position=7, user_id="u2", item_id="z", time_ms=200, returning=False, after_ms=-1),
    ]
    calls: dict[str, list[Call | None]] = {
        "hybrid": [
            Call(["a", "b", "c"], 1.0, reasons=["co", "ease", "co"]),
            Call([], 2.0, error="DEADLINE_EXCEEDED: late"),
        ],
        "popularity": [Call(["b"], 1.0, degraded=["user:cold_start"]), None],
    }
    got = target_records(targets, calls)
    assert [(r["user_id"], r["item_id"], r["time_ms"], r["position"], r["returning"]) for r in got] == [
        ("u1", "b", 100, 3, True),
        ("u2", "z", 200, 7, False),
    ]
    assert got[0]["hybrid"] == {
        "items": ["a", "b", "c"],
        "reasons": ["co", "ease", "co"],
        "rank": 1,
        "degraded": [],
        "error": "",
    }
    assert got[0]["popularity"]["rank"] == 0 and got[0]["popularity"]["degraded"] == ["user:cold_start"]
    assert got[1]["hybrid"]["rank"] == -1 and got[1]["hybrid"]["error"].startswith("DEADLINE")
    assert got[1]["popularity"] == {"error": "not asked"}


def test_the_dump_option_is_off_unless_asked() -> None:
    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command"))
    assert p.parse_args(["eval", "replay"]).dump_targets is None
    assert p.parse_args(["eval", "replay", "--dump-targets", "t.jsonl"]).dump_targets == Path("t.jsonl")
