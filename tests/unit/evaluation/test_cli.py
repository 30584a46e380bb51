"""`hybridrec eval replay`'s argument checks and printed table (the run itself is the integration test's)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from evaluation import cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command"))
    return p


def test_defaults_are_the_issue_protocol() -> None:
    args = _parser().parse_args(["eval", "replay"])
    assert (args.dataset, args.history_fraction, args.max_targets_per_user) == ("ml-100k", 0.9, 50)
    assert args.func is cli.cmd_replay and not args.no_baselines


@pytest.mark.parametrize(
    "argv",
    [
        ["--history-fraction", "1.0"],
        ["--history-fraction", "0"],
        ["--max-targets-per-user", "0"],
        ["--dataset", "ml-1m"],
        ["--namespace", "a-b"],
    ],
)
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["eval", "replay", *argv])
    assert "error" in capsys.readouterr().err


def test_table_lists_every_mode_per_segment_and_the_checks() -> None:
    seg = {
        "targets": 4,
        "ndcg@10": 0.25,
        "hr@10": 0.5,
        "recall@20": 0.75,
        "coverage@20": 0.1,
        "genre_entropy@20": 2.0,
        "novelty@20": 8.0,
        "seen@20": 1.5,
    }
    replay = {
        "modes": {m: {s: dict(seg) for s in ("all", "returning", "new")} for m in ("hybrid", "EASE")},
        "checks": {"pauses": 3, "state_mismatches": 1, "timed_out_targets": 2, "freshness_timeout_s": 30.0},
        "intervals": {
            "level": 0.9,
            "ratios": {"hybrid / best baseline": {"baseline": "EASE", "value": 1.1, "low": 1.0, "high": 1.2}},
        },
    }
    text = cli.render_table(replay)
    assert "NDCG@10 hybrid / best baseline (EASE): 1.100× (90 % interval 1.000–1.200×)" in text
    for seg_name in ("all (4 targets)", "returning (4 targets)", "new (4 targets)"):
        assert seg_name in text
    rows = [line.split() for line in text.splitlines() if line.strip().startswith(("hybrid", "EASE"))]
    assert len(rows) == 6 and rows[0][1:4] == ["0.2500", "0.5000", "0.7500"] and rows[0][-1] == "1.5000"
    assert "3 pauses, 1 state mismatches, 2 targets waited past 30 s" in text


def test_the_demo_takes_the_same_replay_options_with_its_own_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from demo.run import parse_options

    demo = parse_options([])
    assert (demo.loop.dataset, demo.loop.history_fraction, demo.replay.max_targets_per_user) == (
        "ml-latest-small",
        0.9,
        10,
    )
    assert (demo.loop.namespace, demo.loop.workdir, demo.replay.baselines) == ("demo", Path(".run/demo"), True)
    shared = ["--dataset", "synthetic", "--events", "500", "--history-fraction", "0.8", "--max-targets-per-user", "3"]
    shared += ["--no-baselines", "--workdir", "/tmp/w", "--namespace", "n1", "--path", "/data"]
    demo = parse_options(shared)
    loop, replay = cli.replay_options(_parser().parse_args(["eval", "replay", *shared]))
    assert (demo.loop, demo.replay) == (loop, replay), "the same options from the same arguments"
    assert (loop.dataset, loop.events, loop.history_fraction, loop.path) == ("synthetic", 500, 0.8, "/data")
    assert (replay.max_targets_per_user, replay.baselines, loop.workdir, loop.namespace) == (
        3,
        False,
        Path("/tmp/w"),
        "n1",
    )
    assert parse_options(["--dataset", "ml-1m"]).loop.dataset == "ml-1m", "the demo also offers ml-1m"
    with pytest.raises(SystemExit):
        parse_options(["--history-fraction", "1.5"])
    assert "must lie in (0, 1)" in capsys.readouterr().err


def test_compare_pairs_two_runs_work_dirs_and_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from evaluation.uncertainty import PerTarget, save_per_target

    keys = [(f"u{k % 5}", f"i{k}", k) for k in range(40)]
    base = np.linspace(0.1, 1.0, 40)
    for name, factor in (("a", 1.0), ("b", 1.25)):
        (tmp_path / name).mkdir()
        save_per_target(PerTarget(keys, {"hybrid": factor * base}), tmp_path / name / cli.PER_TARGET)
    args = _parser().parse_args(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert args.func(args, None) == 0
    out = capsys.readouterr().out
    assert "40 targets in both runs" in out and "5 users" in out
    line = next(x.split() for x in out.splitlines() if x.strip().startswith("hybrid"))
    assert line[3] == "1.2500" and line[4] == "1.2500–1.2500"
    missing = _parser().parse_args(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "nowhere")])
    assert missing.func(missing, None) == 2
    assert "per_target.json not found" in capsys.readouterr().err
