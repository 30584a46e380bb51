"""``hybridrec batch run --as-of DATE`` and ``hybridrec batch load-archive``: the batch layer's commands,
plugged into the shared CLI through the ``hybridrec.commands`` entry point."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from hybridrec.config import Settings, with_section


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from batch.config import load_batch_config
    from batch.main import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    cfg = load_batch_config(args.config, settings)
    if args.master:
        cfg = with_section(cfg, "spark", master=args.master)
    if args.no_materialize:
        cfg = cfg.model_copy(update={"materialize": False})
    if args.window_days:
        cfg = with_section(cfg, "window", window_days=args.window_days)
    report = run(args.as_of, settings, cfg)
    out = report.as_dict()
    if args.report:
        Path(args.report).write_text(json.dumps(out, indent=2, default=str))
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"version {report.version}: {'PROMOTED' if report.promoted else 'not promoted'}")
        for reason in report.gate["reasons"]:
            print(f"  {reason}")
        print("stages (s): " + ", ".join(f"{k}={v:.1f}" for k, v in report.stages.items()))
    return 0


def cmd_load_archive(args: argparse.Namespace, settings: Settings) -> int:
    """Write a dataset into the lake in the archive format (what the Flink archiver produces), for demos,
    benchmarks and runs without the speed layer."""
    from batch import io
    from hybridrec import catalog
    from hybridrec.datasets import load_dataset

    ds = load_dataset(args.dataset, args.path, settings, n_events=args.events, download_missing=True)
    catalog.write_snapshot(list(ds.items()), settings.paths.lake_dir)
    n = io.write_archive(ds.interactions(), settings.paths.lake_dir)
    print(f"{n} events of {ds.name} written under {io.archive_dir(settings.paths.lake_dir)}")
    return 0


def cmd_compact(args: argparse.Namespace, settings: Settings) -> int:
    """Move the hourly archive files of days up to --until into monthly files (also the run's first stage)."""
    from batch import compact, sweep

    with sweep.lake_lock(settings.paths.lake_dir):  # not while a nightly run writes the same lake
        report = compact.compact(settings.paths.lake_dir, args.until)
    print(json.dumps(report.as_dict()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("batch", help="the nightly batch layer (Spark)")
    sub = p.add_subparsers(dest="batch_command", required=True)
    r = sub.add_parser("run", help="run the nightly pipeline for the window ending at --as-of")
    r.add_argument("--as-of", type=_date, required=True, help="last day (UTC) of the window, YYYY-MM-DD")
    r.add_argument("--config", type=Path, help="TOML file with a [batch] table (or HYBRIDREC_BATCH_CONFIG)")
    r.add_argument("--master", help="Spark master, e.g. spark://127.0.0.1:7077 (default from config)")
    r.add_argument("--window-days", type=int, help="override window.window_days")
    r.add_argument("--no-materialize", action="store_true", help="write offline features but skip Redis")
    r.add_argument("--report", help="write the run report as JSON to this file")
    r.add_argument("--json", action="store_true", help="print the full report as JSON")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("compact", help="compact the hourly archive files of closed days into monthly files")
    c.add_argument("--until", type=_date, required=True, help="last day (UTC) to compact, YYYY-MM-DD")
    c.set_defaults(func=cmd_compact)
    la = sub.add_parser("load-archive", help="write a dataset into the lake archive (instead of Flink)")
    la.add_argument(
        "--dataset", required=True, choices=["ml-100k", "ml-latest-small", "ml-1m", "ml-20m", "ml-25m", "synthetic"]
    )
    la.add_argument("--path", help="dataset directory")
    la.add_argument("--events", type=int, help="synthetic: number of events")
    la.set_defaults(func=cmd_load_archive)
