"""``hybridrec eval replay``: the replay evaluation of issue #15 through the running services (plugged into the
shared CLI through the ``hybridrec.commands`` entry point).

The run: history through Kafka → Flink → archive → nightly batch → promoted model → ranker; batch-only rows for
every target; the live period streamed in time order with a pause wherever targets are due; hybrid and
popularity rows at each pause; the offline baselines on the same targets. Writes ``result.json`` and
``report.html`` into ``--workdir`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hybridrec.config import Settings

if TYPE_CHECKING:  # the loop and the replay import pyarrow, Kafka and Feast: not needed for `hybridrec --help`
    from evaluation.loop import LoopOptions
    from evaluation.replay import ReplayOptions

DATASETS = ("ml-100k", "ml-latest-small", "synthetic")


@dataclass(frozen=True)
class ReplayDefaults:
    """What the demo and ``hybridrec eval replay`` choose differently for the options they share: the demo is a
    shorter look at the loop (fewer targets, its own work dir and namespace), the evaluation the issue's protocol."""

    dataset: str
    datasets: tuple[str, ...]
    max_targets_per_user: int
    targets_help: str
    workdir: Path
    namespace: str
    events: int = 100_000
    history_fraction: float = 0.9


EVAL_DEFAULTS = ReplayDefaults(
    dataset="ml-100k",
    datasets=DATASETS,
    max_targets_per_user=50,
    targets_help="first N targets of each user",
    workdir=Path(".run/eval"),
    namespace="eval",
)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1), got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def render_table(replay: dict[str, Any]) -> str:
    """The metrics of every mode and baseline, per segment, as text."""
    from evaluation import uncertainty
    from evaluation.scoring import HEADLINE, SEGMENTS, table

    lines = []
    for seg in SEGMENTS:
        rows = table(replay["modes"], seg)
        n = int(next(iter(replay["modes"].values()))[seg]["targets"])
        lines.append(f"{seg} ({n:,} targets)")
        lines.append(f"  {'mode':<30}" + "".join(f"{c:>17}" for c in (*HEADLINE, "seen@20")))
        for row in rows:
            seen = replay["modes"][row[0]][seg].get("seen@20", float("nan"))
            lines.append(f"  {row[0]:<30}" + "".join(f"{v:>17.4f}" for v in (*row[1:], seen)))
    intervals = replay.get("intervals") or {}
    level = round(100 * intervals.get("level", 0.95))
    for name, r in (intervals.get("ratios") or {}).items():
        label = uncertainty.ratio_label(name, r)
        lines.append(f"NDCG@10 {label}: {r['value']:.3f}× ({level} % interval {r['low']:.3f}–{r['high']:.3f}×)")
    c = replay["checks"]
    lines.append(
        f"checks: {c['pauses']:,} pauses, {c['state_mismatches']} state mismatches, "
        f"{c['timed_out_targets']} targets waited past {c['freshness_timeout_s']:.0f} s"
    )
    return "\n".join(lines)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    from evaluation import services
    from evaluation.loop import Loop
    from evaluation.replay import Replay, catalog_of, target_records, write_per_target
    from evaluation.report import write_report
    from hybridrec.metrics import percentiles

    torch.set_num_threads(args.threads)
    loop_opts, ropts = replay_options(args, freshness_timeout_s=args.freshness_timeout)
    opts = replace(loop_opts, live_profile=not args.no_live_profile)
    try:
        # With --json, stdout carries only the JSON document; progress and the table go to stderr.
        with Loop(opts, say=_say_to(sys.stderr if args.json else sys.stdout)) as loop:
            loop.say(f"[1/6] data: {args.dataset}")
            loop.load_data()
            loop.say("[2/6] the run's topics and the Flink job")
            loop.start_stream()
            loop.say("[3/6] history through Kafka → Flink → archive + fresh features")
            loop.stream_history()
            loop.say("[4/6] nightly batch on the archive")
            loop.nightly_batch()
            loop.say("[5/6] the ranker")
            client = loop.start_ranker()
            replay = Replay(loop, ropts)
            loop.say("[6/6] batch-only rows, then the live period with a pause wherever targets are due")
            replay.ask_batch_only()
            replay.stream_live()
            latencies = list(client.latencies_ms)
    except services.ServiceFailed as exc:
        print(f"\nreplay failed: {exc}", file=sys.stderr)
        return 1
    result = loop.result
    result["replay"] = replay.results(catalog_of(loop))
    result["latency_ms"] = percentiles(latencies)
    result["latencies"] = latencies
    result["timeline"] = {"ingest": loop.timeline.ingest, "freshness": loop.timeline.freshness}
    result["freshness_ms"] = percentiles([f for _, f in loop.timeline.freshness])
    workdir = loop.workdir
    (workdir / "result.json").write_text(json.dumps(result, default=str))
    write_per_target(replay, workdir / PER_TARGET)
    if args.dump_targets is not None:
        with args.dump_targets.open("w") as f:
            for rec in target_records(replay.targets, replay.calls):
                f.write(json.dumps(rec) + "\n")
    write_report(result, workdir / "report.html")
    text = sys.stderr if args.json else sys.stdout
    print(render_table(result["replay"]), file=text)
    print(f"result: {workdir / 'result.json'}; report: {workdir / 'report.html'}", file=text)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("latencies", "timeline")}, default=str))
    return 0


PER_TARGET = "per_target.json"
"""Beside a run's ``result.json``: every target's key and each mode's NDCG@10 on it (``hybridrec eval compare``)."""


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    """Two runs on the same cut, target by target: each mode's NDCG@10 before and after and their ratio's interval."""
    from evaluation.uncertainty import compare_runs, load_per_target

    runs = []
    for run in (args.a, args.b):
        path = run if run.suffix == ".json" else run / PER_TARGET
        if not path.exists():
            msg = f"error: {path} not found: a run of `hybridrec eval replay` writes it into its --workdir"
            print(msg, file=sys.stderr)
            return 2
        runs.append(load_per_target(path))
    got = compare_runs(runs[0], runs[1], args.mode or None)
    if args.json:
        print(json.dumps(got))
        return 0
    t = got["targets"]
    print(f"{t['shared']:,} targets in both runs ({t['a']:,} in A, {t['b']:,} in B), {got['users']:,} users")
    level = round(100 * got["level"])
    print(f"  {'mode':<30}{'A':>10}{'B':>10}{'B / A':>10}  {level} % interval")
    for mode, m in got["modes"].items():
        r = m["b / a"]
        print(f"  {mode:<30}{m['a']:>10.4f}{m['b']:>10.4f}{r['value']:>10.4f}  {r['low']:.4f}–{r['high']:.4f}")
    return 0


def _say_to(stream: TextIO) -> Callable[[str], None]:
    def say(msg: str) -> None:
        print(msg, file=stream, flush=True)

    return say


def add_replay_arguments(parser: argparse.ArgumentParser, defaults: ReplayDefaults) -> None:
    """The options of one replay run (data, history cut, targets, baselines, where it runs), declared once for the
    demo and ``hybridrec eval replay``, which both drive :class:`evaluation.loop.Loop` with them."""
    parser.add_argument("--dataset", default=defaults.dataset, choices=defaults.datasets)
    parser.add_argument("--path", help="dataset directory (default: datasets dir, earlier download, GroupLens)")
    parser.add_argument("--events", type=_positive, default=defaults.events, help="synthetic: number of events")
    parser.add_argument(
        "--history-fraction",
        type=_fraction,
        default=defaults.history_fraction,
        help="share of events (by time) in the history",
    )
    parser.add_argument(
        "--max-targets-per-user", type=_positive, default=defaults.max_targets_per_user, help=defaults.targets_help
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the offline baselines")
    parser.add_argument("--workdir", type=Path, default=defaults.workdir)
    parser.add_argument(
        "--namespace",
        default=defaults.namespace,
        type=_namespace,
        help="prefix of this run's topics and Feast project (letters, digits, _)",
    )


def replay_options(args: argparse.Namespace, **extra: Any) -> tuple[LoopOptions, ReplayOptions]:
    """The loop's and the replay's options from the arguments of :func:`add_replay_arguments`; ``extra``: the
    caller's own replay options (``freshness_timeout_s``)."""
    from evaluation.loop import LoopOptions
    from evaluation.replay import ReplayOptions

    loop = LoopOptions(
        dataset=args.dataset,
        path=args.path,
        events=args.events,
        history_fraction=args.history_fraction,
        workdir=args.workdir,
        namespace=args.namespace,
    )
    return loop, ReplayOptions(max_targets_per_user=args.max_targets_per_user, baselines=not args.no_baselines, **extra)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("eval", help="quality evaluation through the running services")
    sub = p.add_subparsers(dest="eval_command", required=True)
    r = sub.add_parser(
        "replay",
        help="replay a dataset through the services and score served rows and baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_replay_arguments(r, EVAL_DEFAULTS)
    r.add_argument(
        "--freshness-timeout",
        type=float,
        default=30.0,
        help="seconds a pause waits for a user's features before asking anyway (counted)",
    )
    r.add_argument(
        "--no-live-profile",
        action="store_true",
        help="run the speed layer with its own settings, not the paused-replay profile",
    )
    r.add_argument(
        "--dump-targets",
        type=Path,
        default=None,
        metavar="PATH",
        help="write one JSON line per target: user, time, item and every mode's served row with the target's rank",
    )
    r.add_argument("--threads", type=_positive, default=1, help="torch threads of the offline baselines")
    r.add_argument(
        "--json",
        action="store_true",
        help="print the result (without the raw series) as JSON on stdout; progress goes to stderr",
    )
    r.set_defaults(func=cmd_replay)
    c = sub.add_parser(
        "compare",
        help="two replay runs of the same cut, target by target: NDCG@10 before / after with a paired interval",
        description="Pairs two runs' targets (user, item, time) from their per_target.json and gives each mode's "
        "NDCG@10 in both, and B / A with its interval from a paired bootstrap over the users (docs/evaluation.md).",
    )
    c.add_argument("a", type=Path, help="run A: its --workdir or its per_target.json")
    c.add_argument("b", type=Path, help="run B: its --workdir or its per_target.json")
    c.add_argument("--mode", action="append", help="only these modes (repeatable; default: every mode of both)")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.set_defaults(func=cmd_compare)


def _namespace(text: str) -> str:
    from evaluation.namespace import namespace_name

    return namespace_name(text)
