"""Soak: the whole loop under steady load for a long time — does anything grow?

Live events (event time = now, the synthetic world's users and items, through the project's replay and producer
in a process of their own) → Kafka → the speed-layer job (local
MiniCluster) → Redis ← the ranker (`hybridrec serve`, its own process) ← an open-loop GetHomepage client (this
process). First a calibration: both loads doubled every ``--step`` seconds from ``--base-events`` /
``--base-pages`` until the system no longer keeps up (the job's consumer lag grows by more than 10 % of what was
offered in the step, a page's p99 exceeds ``--p99-limit-ms``, or a call fails); the capacity is the last step that
kept up. Then ``--duration`` seconds at half that capacity, sampling every ``--sample-s``: the RSS of every process
(broker, Redis, job client and JVM, ranker, feed, this client), the pages' p99 and the job's consumer lag.
Prints each series' least-squares slope (per hour, and as % of its mean per hour) and writes the samples to
``<run_dir>/soak/``. Not in `make test`: `make bench-soak` (30 min), under the bench lock.

    flock /tmp/hybridrec-bench.lock .venv/bin/python benchmarks/soak.py [--duration 1800] [--step 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridrec.config import FeastConfig, Settings, get_settings, with_section  # noqa: E402
from hybridrec.contract import archive_table  # noqa: E402
from hybridrec.datasets import SyntheticDataset  # noqa: E402

if TYPE_CHECKING:
    from tests.support.chaos_harness import Answer, PageLoad
    from tests.support.serving_kit import World

# The soak's own parts (ranker, job, page load, test kits) are imported where used: the feed process imports only
# what producing needs, so its RSS is the feed's, not torch's.


def namespace(base: Settings, work: Path) -> Settings:
    """Own topics on `make up`'s broker, own Feast project in its Redis, lake and registry under ``work``."""
    tag = uuid.uuid4().hex[:8]
    settings = with_section(
        base,
        "kafka.topics",
        interactions=f"soak{tag}.interactions",
        dlq=f"soak{tag}.interactions.dlq",
        impressions=f"soak{tag}.impressions",
        catalog=f"soak{tag}.catalog",
    )
    settings = with_section(settings, "paths", data_dir=work / "data", registry_dir=work / "data" / "registry")
    return settings.model_copy(update={"feast": FeastConfig(project=f"soak{tag}", registry_path=work / "feast.db")})


def model_world(settings: Settings) -> World:
    """The ranker's world with the synthetic world's ids, so pages read the features the job writes."""
    from tests.support.serving_kit import World

    items = list(SyntheticDataset(settings.synthetic, n_events=1).items())
    genres = {i.item_id: tuple(i.genres) for i in items}
    users = [str(u) for u in range(1, settings.synthetic.n_users + 1)]  # the generator's ids: "1" .. "n"
    return World(users, list(genres), genres, list(genres))


def consumer_lag(settings: Settings, group: str) -> int:
    """End offsets minus the job's committed offsets (committed on each checkpoint), over all partitions."""
    topic = settings.kafka.topics.interactions
    c = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        committed = {tp.partition: max(tp.offset, 0) for tp in c.committed(parts, timeout=10)}
        return sum(c.get_watermark_offsets(tp, timeout=10)[1] - committed[tp.partition] for tp in parts)
    finally:
        c.close()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def rss_mb(pid: int, with_children: bool = False) -> float:
    """Resident memory of ``pid`` (and its descendants), from /proc; NaN once it is gone."""
    todo, total, seen = [pid], 0, False
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        total, seen = total + kb, True
        if with_children:
            todo += _children(p)
    return total / 1024 if seen else float("nan")


def pid_of(settings: Settings, service: str) -> int:
    return int((settings.paths.run_dir / service / f"{service}.pid").read_text())


TYPES = ("IMPRESSION", "IMPRESSION", "PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS")


def live_batches(settings: Settings, rate: float, seed: int) -> Iterator[pa.RecordBatch]:
    """Endless batches of events happening now (event time = wall clock), users and items of the synthetic world
    with Zipf item popularity: what homepage backends send, unlike a replayed history whose event time runs far
    ahead of the wall clock."""
    rng = np.random.default_rng(seed)
    syn = settings.synthetic
    weights = 1.0 / np.arange(1, syn.n_items + 1) ** syn.popularity_exponent
    weights /= weights.sum()
    size, n = max(1, int(rate / 20)), 0
    while True:
        now = int(time.time() * 1000)
        users = rng.integers(1, syn.n_users + 1, size)
        items = rng.choice(syn.n_items, size, p=weights) + 1
        kinds = rng.choice(TYPES, size)
        rows = [
            {
                "event_id": f"live-{seed}-{n + k}",
                "user_id": str(u),
                "item_id": str(i),
                "event_type": str(t),
                "value": 4.0 if t == "RATING" else 1.0,
                "event_time_ms": now,
                "surface": "homepage/top_picks",
                "position": k % 20,
                "device": "TV",
                "country": "DE",
            }
            for k, (u, i, t) in enumerate(zip(users, items, kinds, strict=True))
        ]
        n += size
        yield from archive_table(rows).to_batches()


def feed(rate: float, seed: int) -> int:
    """`soak.py feed`: the live events through the project's replay (validating, acks=all) until SIGTERM."""
    from hybridrec.kafka.producer import EventProducer
    from hybridrec.replay import ReplayIncomplete, replay
    from hybridrec.stop import StopSignals

    settings = get_settings()
    producer = EventProducer(settings.kafka, settings.validation, component="soak")
    with StopSignals() as stop:
        try:
            summary = replay(live_batches(settings, rate, seed), producer, dataset="live", rate=rate, stop=stop)
        except ReplayIncomplete as exc:
            summary = exc.summary
    print(json.dumps(summary.as_dict()), flush=True)
    return 0 if summary.delivery_failures == 0 and summary.unacknowledged == 0 else 1


class Feed:
    """The live feed at a fixed rate in its own process (`soak.py feed`); a new rate is a new process."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings, self.logs, self.proc, self.seed = settings, logs, None, 100

    def run(self, rate: float) -> None:
        self.stop()
        self.seed += 1
        from tests.support import chaos_harness as harness

        argv = [sys.executable, str(Path(__file__).resolve()), "feed", "--rate", str(rate), "--seed", str(self.seed)]
        self.proc = harness.Proc(f"feed-{self.seed}", argv, harness.child_env(self.settings), self.logs)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(120)  # SIGTERM: drains and prints its summary


def p99_ms(answers: list[Answer]) -> float:
    return float(np.percentile([a.latency_s * 1000 for a in answers], 99)) if answers else float("nan")


def calibrate(
    args: argparse.Namespace, settings: Settings, group: str, feed: Feed, pages: PageLoad
) -> tuple[float, float, list[dict[str, float]]]:
    steps, kept = [], (0.0, 0.0)
    for k in range(args.max_steps):
        events, page_rate = args.base_events * 2**k, args.base_pages * 2**k
        feed.run(events)
        pages.rate = page_rate
        time.sleep(args.step / 3)  # ramp: the job and the client settle at the new rate
        t0, lag0 = time.monotonic(), consumer_lag(settings, group)
        time.sleep(args.step * 2 / 3)
        lag1, window = consumer_lag(settings, group), pages.between(t0, time.monotonic())
        offered = events * (time.monotonic() - t0)
        step = {
            "events_per_s": events,
            "pages_per_s": page_rate,
            "lag_growth": lag1 - lag0,
            "p99_ms": round(p99_ms(window), 1),
            "failed": sum(a.kind == "failed" for a in window),
            "load": os.getloadavg()[0],
        }
        step["kept_up"] = float(
            step["lag_growth"] <= 0.1 * offered and step["p99_ms"] <= args.p99_limit_ms and not step["failed"]
        )
        steps.append(step)
        print(json.dumps({"calibration": step}), flush=True)
        if not step["kept_up"]:
            break
        kept = (events, page_rate)
    if kept == (0.0, 0.0):
        raise SystemExit(f"not even {args.base_events} events/s + {args.base_pages} pages/s kept up: {steps}")
    return kept[0], kept[1], steps


def slope_per_hour(t: list[float], y: list[float]) -> tuple[float, float]:
    """Least-squares slope (units per hour) and that slope as % of the series' mean."""
    ts, ys = np.asarray(t, float), np.asarray(y, float)
    ok = ~np.isnan(ys)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    slope = float(np.polyfit(ts[ok] / 3600, ys[ok], 1)[0])
    mean = float(ys[ok].mean())
    return slope, (100 * slope / mean if mean else float("nan"))


def main() -> int:
    if sys.argv[1:2] == ["feed"]:
        f = argparse.ArgumentParser(prog="soak.py feed")
        f.add_argument("feed")
        f.add_argument("--rate", type=float, required=True)
        f.add_argument("--seed", type=int, required=True)
        a = f.parse_args()
        return feed(a.rate, a.seed)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=1800.0, help="seconds of steady load at half capacity")
    p.add_argument("--step", type=float, default=60.0, help="seconds per calibration step")
    p.add_argument("--max-steps", type=int, default=7)
    p.add_argument("--base-events", type=float, default=500.0)
    p.add_argument("--base-pages", type=float, default=12.5)
    p.add_argument("--p99-limit-ms", type=float, default=100.0)
    # Not near a multiple of the job's 10 s checkpoint interval: the consumer lag is a sawtooth between checkpoints,
    # and sampling it every ~10 s aliased it into a slow ramp that looked like growth.
    p.add_argument("--sample-s", type=float, default=7.3)
    p.add_argument(
        "--warmup-s",
        type=float,
        default=600.0,
        help="slopes fit the samples after this (JVM heaps reach their working size in the first minutes)",
    )
    return soak(p.parse_args())


def soak(args: argparse.Namespace) -> int:
    from hybridrec import catalog
    from hybridrec.kafka.topics import ensure_topics
    from hybridrec.registry import ModelRegistry
    from streaming.config import streaming_settings
    from tests.support import chaos_harness as harness
    from tests.support import serving_env as env
    from tests.support import serving_kit as kit
    from tests.support import streaming_kit as testkit

    base = get_settings()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    settings = namespace(base, work)
    ensure_topics(settings.kafka)
    out_dir = base.paths.run_dir / "soak"
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "logs"
    world = model_world(settings)
    env.seed_features(settings, world, {u: kit.heavy_user(world) for u in world.user_ids[:2000]})
    files = kit.write_version_files(work / "build", world, rank=32, hidden=(64, 32))
    registry = ModelRegistry(settings.paths.registry_root)
    registry.promote(registry.publish(files, {}).version, reason="soak")

    job_cfg = streaming_settings(settings, bounded=False, group_id=f"{settings.kafka.topics.interactions}.job")
    job = testkit.JobProcess(job_cfg, logs / "job")
    port, metrics_port = harness.free_port(), harness.free_port()
    ranker = harness.start_ranker(settings, "ranker", port, metrics_port, logs)
    events_feed = Feed(settings, logs)
    pages = None
    print(f"uptime before: {harness.load_average()}", flush=True)
    try:
        assert harness.wait_until(lambda: harness.ranker_healthy(port), 600), ranker.tail()
        catalog.publish(
            SyntheticDataset(settings.synthetic, n_events=1).items(), settings.kafka, settings.paths.lake_dir
        )
        events_feed.run(args.base_events)
        assert harness.wait_until(lambda: testkit.read_archive(job_cfg).num_rows > 0, 900, every_s=3), job.tail()
        pages = harness.PageLoad([port], world.user_ids, args.base_pages).start()
        group = job_cfg.streaming.group_id
        capacity_events, capacity_pages, steps = calibrate(args, settings, group, events_feed, pages)
        events, page_rate = capacity_events / 2, capacity_pages / 2
        print(
            json.dumps(
                {
                    "capacity": {"events_per_s": capacity_events, "pages_per_s": capacity_pages},
                    "soak": {"events_per_s": events, "pages_per_s": page_rate},
                }
            ),
            flush=True,
        )
        events_feed.run(events)
        pages.rate = page_rate
        time.sleep(min(60.0, args.duration / 10))  # settle
        assert events_feed.proc is not None
        procs = {
            "kafka broker": (pid_of(base, "kafka"), False),
            "redis": (pid_of(base, "redis"), False),
            "flink job (client + MiniCluster JVM)": (job.proc.pid, True),
            "ranker": (ranker.pid, True),
            "event feed": (events_feed.proc.pid, True),
            "load client (this process)": (os.getpid(), False),
        }
        rows: list[dict[str, float]] = []
        start = time.monotonic()
        while time.monotonic() - start < args.duration:
            t0 = time.monotonic()
            time.sleep(args.sample_s)
            window = pages.between(t0, time.monotonic())
            row = {
                "t_s": round(time.monotonic() - start, 1),
                "p99_ms": round(p99_ms(window), 2),
                "pages": len(window),
                "failed": sum(a.kind == "failed" for a in window),
                "lag": consumer_lag(settings, group),
                "load": os.getloadavg()[0],
            }
            row.update({f"rss_mb {name}": round(rss_mb(pid, children), 1) for name, (pid, children) in procs.items()})
            rows.append(row)
        report(args, rows, steps, events, page_rate, out_dir)
    finally:
        harness.shutdown(pages, events_feed, ranker)
        job.kill()
        testkit.discard(settings)
        shutil.rmtree(work, ignore_errors=True)
        print(f"uptime after: {harness.load_average()}", flush=True)
    return 0


def report(
    args: argparse.Namespace,
    rows: list[dict[str, float]],
    steps: list[dict[str, float]],
    events: float,
    page_rate: float,
    out_dir: Path,
) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with (out_dir / f"samples-{stamp}.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    t = [r["t_s"] for r in rows]
    series = [k for k in rows[0] if k.startswith(("rss_mb", "p99_ms", "lag"))]
    summary = {
        "duration_s": args.duration,
        "events_per_s": events,
        "pages_per_s": page_rate,
        "samples": len(rows),
        "failed_pages": sum(r["failed"] for r in rows),
        "calibration": steps,
        "series": {},
    }
    print(
        f"\nsoak: {args.duration / 60:.0f} min at {events:,.0f} events/s + {page_rate:,.1f} pages/s "
        f"(half the calibrated capacity); {summary['failed_pages']} failed pages"
    )
    settled = [k for k, tk in enumerate(t) if tk >= t[0] + args.warmup_s]
    if len(settled) < 10:
        settled = list(range(len(t)))  # too short a run to leave the warm-up out
    summary["fit_from_s"] = t[settled[0]] - t[0]
    print(f"slopes fit the samples from {summary['fit_from_s']:.0f} s on (--warmup-s)")
    print(f"{'series':<42} {'first':>9} {'last':>9} {'mean':>9} {'slope/h':>10} {'%mean/h':>8}")
    for name in series:
        ys = [rows[k][name] for k in settled]
        slope, pct = slope_per_hour([t[k] for k in settled], ys)
        summary["series"][name] = {
            "first": ys[0],
            "last": ys[-1],
            "mean": float(np.nanmean(ys)),
            "slope_per_h": slope,
            "pct_of_mean_per_h": pct,
        }
        print(f"{name:<42} {ys[0]:>9.1f} {ys[-1]:>9.1f} {np.nanmean(ys):>9.1f} {slope:>10.2f} {pct:>7.1f}%")
    (out_dir / f"summary-{stamp}.json").write_text(json.dumps(summary, indent=1))
    print(f"samples and summary in {out_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
