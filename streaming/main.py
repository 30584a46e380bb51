"""Entry point of the speed layer: `python -m streaming.main run`, `hybridrec stream run`, `flink run -py`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hybridrec.config import with_section
from streaming.config import StreamingSettings


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings-json", type=Path, help="full settings as JSON (tests, scripted runs)")
    parser.add_argument("--parallelism", type=int)
    parser.add_argument("--bounded", action="store_true", help="stop at the end offsets seen at start")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--restore-from",
        type=Path,
        help="checkpoint (chk-N) or savepoint directory (default: the job's newest one, if any)",
    )
    start.add_argument(
        "--start-empty", action="store_true", help="start with no state even when the job has a checkpoint or savepoint"
    )


def load_settings(args: argparse.Namespace) -> StreamingSettings:
    settings = (
        StreamingSettings(**json.loads(args.settings_json.read_text())) if args.settings_json else StreamingSettings()
    )
    update: dict[str, object] = {}
    if args.parallelism:
        update["parallelism"] = args.parallelism
    if args.bounded:
        update["bounded"] = True
    if args.restore_from:
        update["restore_from"] = args.restore_from
    if args.start_empty:
        update["start_empty"] = True
    if update:
        settings = with_section(settings, "streaming", **update)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from streaming.job import run

    settings = load_settings(args)
    result = run(settings)
    print(f"job finished: {result}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streaming", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_arguments(sub.add_parser("run", help="run the speed-layer job"))
    args = parser.parse_args(argv)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
