"""Benchmark of the nightly batch pipeline: wall time per stage and the holdout quality table.

    .venv/bin/python benchmarks/batch_pipeline.py --dataset ml-latest-small [--path DIR] [--as-of 2018-09-24]
    .venv/bin/python benchmarks/batch_pipeline.py --dataset synthetic --events 1000000

Runs in a private data dir (lake, registry, Feast registry; Feast project ``bench_<dataset>``), loads the
dataset into the archive format first (timed separately: that is the Flink job's work in production), then
runs ``batch.main.run`` exactly as ``hybridrec batch run`` does. Prints a Markdown table and writes the full
report as JSON next to the data.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hybridrec.config import PROJECT_ROOT, with_section


def reference_s() -> float:
    """Seconds of a fixed CPU workload (numpy matmuls), timed before and after the run: the machine is shared,
    so a wall time means something only next to what this took in the same run."""
    import numpy as np

    a = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)
    t0 = time.perf_counter()
    for _ in range(300):
        a = np.tanh(a @ a.T / 512)
    return time.perf_counter() - t0


def last_day(lake_dir: Path) -> date:
    """Day of the newest archived event, from the hourly tree or the compacted monthly tree."""
    from batch import compact, io

    days = [f.name.split("=")[1] for f in io.archive_dir(lake_dir).glob("event_date=*")]
    for month in compact.compacted_dir(lake_dir).glob("event_month=*"):
        days += pq.read_table(month, columns=["event_date"]).column(0).to_pylist()
    return date.fromisoformat(max(days))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--path", help="dataset directory (MovieLens)")
    p.add_argument("--events", type=int, default=1_000_000, help="synthetic: events")
    p.add_argument("--as-of", type=date.fromisoformat, help="default: the day of the last event")
    p.add_argument("--window-days", type=int, default=10_000)
    p.add_argument(
        "--data-dir",
        type=Path,
        help="default: .run/bench/batch-<dataset>-<events> in the project "
        "(`make clean` removes it; not /tmp, a 20M archive is GBs)",
    )
    p.add_argument("--no-materialize", action="store_true")
    p.add_argument("--reuse", action="store_true", help="keep the archive already in --data-dir (re-runs)")
    p.add_argument("--load-only", action="store_true", help="only write the archive into --data-dir")
    p.add_argument("--driver-memory", help="spark.driver.memory (default: the batch config's)")
    args = p.parse_args()

    data_dir = args.data_dir
    if data_dir is None:
        data_dir = PROJECT_ROOT / ".run" / "bench" / f"batch-{args.dataset}-{args.events}"
        if not args.reuse:
            shutil.rmtree(data_dir, ignore_errors=True)  # the previous run's, with the same name
        data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["HYBRIDREC_PATHS__DATA_DIR"] = str(data_dir)  # before hybridrec reads its settings
    os.environ.setdefault("HYBRIDREC_FEAST__PROJECT", "bench_" + re.sub(r"\W", "_", args.dataset))

    from batch import io
    from batch.config import load_batch_config
    from batch.main import run
    from hybridrec import catalog
    from hybridrec.config import get_settings
    from hybridrec.datasets import load_dataset

    settings = get_settings()
    ds = load_dataset(args.dataset, args.path, settings, n_events=args.events, download_missing=True)
    t0 = time.perf_counter()
    if args.reuse and io.archive_dir(settings.paths.lake_dir).exists():
        n, load_s = json.loads((data_dir / "bench-load.json").read_text()).values()
    else:
        catalog.write_snapshot(list(ds.items()), settings.paths.lake_dir)
        if hasattr(ds, "batches"):  # synthetic: arrow batches straight from the generator
            n = 0
            for batch in ds.batches(500_000):
                io.write_archive_table(pa.Table.from_batches([batch]), settings.paths.lake_dir)
                n += batch.num_rows
        else:
            n = io.write_archive(ds.interactions(), settings.paths.lake_dir)
        load_s = time.perf_counter() - t0
        (data_dir / "bench-load.json").write_text(json.dumps({"events": n, "load_s": load_s}))
    if args.load_only:
        print(f"{n} events loaded into {data_dir} in {load_s:.1f} s")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    as_of = args.as_of or last_day(settings.paths.lake_dir)
    cfg = load_batch_config(settings=settings)
    cfg = with_section(cfg, "spark", driver_memory=args.driver_memory or cfg.spark.driver_memory)
    cfg = with_section(cfg, "window", window_days=args.window_days).model_copy(
        update={"materialize": not args.no_materialize}
    )
    load_before, ref_before = os.getloadavg(), reference_s()
    t0 = time.perf_counter()
    report = run(as_of, settings, cfg)
    wall = time.perf_counter() - t0
    ref_after = reference_s()
    out = {
        "dataset": args.dataset,
        "events": n,
        "as_of": as_of.isoformat(),
        "archive_load_s": round(load_s, 1),
        "pipeline_wall_s": round(wall, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "reference_s": [round(ref_before, 2), round(ref_after, 2)],
        **report.as_dict(),
    }
    (data_dir / "bench-report.json").write_text(json.dumps(out, indent=2, default=str))

    print(f"## batch pipeline on {args.dataset} ({n} events, as of {as_of}, {os.cpu_count()} cores)\n")
    print(
        f"archive load {load_s:.1f} s (not part of the nightly run); pipeline wall {wall:.1f} s; "
        f"compaction {report.compaction}; load average before {load_before}, after {os.getloadavg()}; "
        f"CPU reference workload {ref_before:.2f} s before, {ref_after:.2f} s after\n"
    )
    print("| stage | s |\n|---|---|")
    for k, v in report.stages.items():
        print(f"| {k} | {v:.1f} |")
    ks = cfg.eval.k_values
    cols = [f"{m}@{k}" for k in ks for m in ("recall", "ndcg", "map")] + [
        f"coverage@{ks[0]}",
        f"genre_entropy@{ks[0]}",
        f"novelty@{ks[0]}",
    ]
    print(f"\nholdout: {int(report.metrics['popularity']['cases'])} next-item cases\n")
    print("| model | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for name, m in report.metrics.items():
        print(f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in cols) + " |")
    print(f"\nANN: {report.ann}\ngate: {report.gate}\nreport: {data_dir / 'bench-report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
