"""The cost of training's fresh features at scale: the user state with the speed layer's fold
(``batch.transforms.user_state``, whose session and recent items come from ``fresh_fold``: the job's own JVM
``SnapshotFold``, one call per user) against the same state without them (``user_batch_state``), on one archive,
in one Spark session, each forced in full (Spark's ``noop`` sink) and timed twice after a warm-up, so their
difference is the fold's and the ratio holds on a shared machine.

    .venv/bin/python benchmarks/batch_pipeline.py --dataset synthetic --events 1000000 --load-only  # the archive
    .venv/bin/python benchmarks/fresh_fold.py --data-dir .run/bench/batch-synthetic-1000000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path


def timed(df: object) -> float:
    t0 = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="a data dir batch_pipeline.py --load-only wrote")
    p.add_argument("--driver-memory", help="spark.driver.memory (default: the batch config's)")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    os.environ["HYBRIDREC_PATHS__DATA_DIR"] = str(args.data_dir.resolve())  # before hybridrec reads its settings

    from pyspark.sql import functions as F

    from batch import io
    from batch import transforms as tr
    from batch.config import load_batch_config
    from hybridrec.config import get_settings, with_section

    settings = get_settings()
    cfg = load_batch_config(settings=settings)
    cfg = with_section(cfg, "spark", driver_memory=args.driver_memory or cfg.spark.driver_memory)
    spark = io.spark_session(cfg.spark, settings.paths.deps_dir)
    spark.sparkContext.setLogLevel("ERROR")
    lake = settings.paths.lake_dir
    raw = io.read_archive(spark, lake, date(1970, 1, 2), date(2100, 1, 1))
    events = tr.clean_events(raw, 0, 10**15, cfg.eval.positive_event_types).persist()
    n = events.count()
    per_user = events.groupBy("user_id").count().agg(F.count("*"), F.max("count")).first()
    catalog = io.read_catalog(spark, lake).cache()
    genres = tr.genre_vectors(catalog).cache()
    genres.count()

    load_before = os.getloadavg()
    timed(tr.user_batch_state(events, genres))  # warm-up: JIT, the jar's classes, caches
    runs: dict[str, list[float]] = {"without_fold_s": [], "with_fold_s": []}
    for _ in range(args.repeat):
        runs["without_fold_s"].append(round(timed(tr.user_batch_state(events, genres)), 1))
        runs["with_fold_s"].append(round(timed(tr.user_state(events, genres, catalog)), 1))
    fold_s = min(runs["with_fold_s"]) - min(runs["without_fold_s"])
    print(
        json.dumps(
            {
                "events": n,
                "users": per_user[0],
                "max_events_per_user": per_user[1],
                **runs,
                "fold_s": round(fold_s, 1),
                "fold_events_per_s": round(n / fold_s) if fold_s > 0 else None,
                "with_over_without": round(min(runs["with_fold_s"]) / min(runs["without_fold_s"]), 2),
                "load_before": load_before,
                "load_after": os.getloadavg(),
            }
        )
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
