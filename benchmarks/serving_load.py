"""Load test of the ranker with the model users get: a real nightly batch run's model and batch features
(ML-100K or ml-latest-small), served by ``python -m serving.main`` in its own process(es), loaded by ghz (a
stock open-loop gRPC load generator, ``make ghz``) through the server's reflection, on loopback only.

    .venv/bin/python benchmarks/serving_load.py --dataset ml-100k [--rates 100,200,400] [--duration 30]
        [--workers N] [--connections K] [--deadline-ms 250] [--rows 5] [--items-per-row 20]
    .venv/bin/python benchmarks/serving_load.py --dataset ml-100k --cpu 1000 [--profile] [--sink kafka]

The model: ``benchmarks/batch_pipeline.py`` writes a data dir with the lake, the registry (the promoted
version) and the batch features materialized in Redis (Feast project ``bench_<dataset>``); this reuses it
(``--data-dir``, default the batch benchmark's) or runs it first. Fresh features: every user gets a live
session, their last 10 engaged items of the dataset as ``recent_items`` (written through Feast's online write
path like the speed layer does), so pages are as personal as they get.

Per rate it reports ghz's latency percentiles and status codes, the pages the server flagged degraded (its
``hybridrec_serving_pages_total`` and reasons from ``hybridrec_serving_degraded_total``: a degraded page
counts against the SLO), the server's CPU per page (its process tree from /proc, so it does not depend on
waiting for a core) and ghz's own CPU, then the highest rate with p99 <= 25 ms and < 0.1 % degraded.

``--cpu N`` instead runs N sequential ``Engine.homepage`` calls in this process on the same model and the
users' real features (read once from Redis): CPU per page without gRPC and Redis; ``--profile`` adds cProfile;
``--sink kafka`` logs every page through the server's Kafka sink (its producer threads count in the process CPU).
``--profile`` without ``--cpu`` runs the load test's server (``--workers 1``) under cProfile and prints where
the whole process spent its CPU (gRPC, protobuf, the Redis client and the impression log included).
``--py-spy`` samples the server processes with py-spy (a dev dependency) during each rate's run only, without
instrumenting them, and prints the CPU ms per page of the top frames, self and inclusive: where the server's
time goes under load, start-up and warm-up excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SLO_P99_MS = 25.0
SLO_DEGRADED = 0.001
PY_SPY_HZ = 250


def data_dir_of(args: argparse.Namespace) -> Path:
    """Where the batch benchmark keeps this dataset's run (its own default), unless ``--data-dir`` says."""
    return Path(args.data_dir).resolve() if args.data_dir else ROOT / ".run" / "bench" / f"batch-{args.dataset}-1000000"


def ensure_model(args: argparse.Namespace, data_dir: Path) -> None:
    """Reuse the promoted model of an earlier batch run in ``data_dir``, or run the nightly batch now."""
    if (data_dir / "registry" / "CURRENT.json").exists():
        return
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "batch_pipeline.py"),
        "--dataset",
        args.dataset,
        "--data-dir",
        str(data_dir),
    ] + (["--path", args.path] if args.path else [])
    print(f"no model in {data_dir}: running the nightly batch first ({' '.join(cmd)})", file=sys.stderr)
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def _metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def counters(ports: list[int]) -> dict[str, float]:
    """Pages by outcome, degradation reasons and GetHomepage calls, summed over the worker processes."""
    out: Counter[str] = Counter()
    for port in ports:
        text = _metrics(port)
        for m in re.finditer(r'^hybridrec_serving_pages_total\{outcome="(\w+)"\} (\S+)$', text, re.M):
            out[f"pages:{m.group(1)}"] += float(m.group(2))
        for m in re.finditer(r'^hybridrec_serving_degraded_total\{reason="([^"]+)"\} (\S+)$', text, re.M):
            out[f"reason:{m.group(1)}"] += float(m.group(2))
        for m in re.finditer(r'^hybridrec_serving_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$', text, re.M):
            out[f"stage_{m.group(1)}:{m.group(2)}"] += float(m.group(3))
        m = re.search(r'^hybridrec_serving_request_seconds_count\{method="GetHomepage"\} (\S+)$', text, re.M)
        out[f"served:{port}"] += float(m.group(1)) if m else 0.0
    return dict(out)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the worker processes), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def seed_fresh(settings, dataset: str, path: str | None) -> list[str]:
    """Every user of the dataset with a live session: their last 10 engaged items (newest first), through
    Feast's online write path. Returns the user ids."""
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    from hybridrec.contract import USER_FRESH_VIEW, genre_vector
    from hybridrec.datasets import load_dataset
    from hybridrec.feature_store import open_store

    ds = load_dataset(dataset, path, settings, download_missing=True)
    genres = {i.item_id: list(i.genres) for i in ds.items()}
    events: dict[str, list[tuple[int, str]]] = {}
    for e in ds.interactions():
        events.setdefault(e.user_id, []).append((e.event_time_ms, e.item_id))
    now = int(time.time() * 1000)
    ts = pd.Timestamp(datetime.now(tz=UTC))
    rows = []
    for user, evs in events.items():
        recent = [i for _, i in sorted(evs, reverse=True)[:10]]
        mix = np.sum([genre_vector(genres.get(i, [])) for i in recent], axis=0)
        rows.append(
            {
                "user_id": user,
                "recent_items": recent,
                "recent_item_times_ms": [now - 60_000] * len(recent),
                "session_start_ms": now - 600_000,
                "session_items": recent[::-1],
                "session_genres": [float(x) for x in mix],
                "taste_genres": [float(x) for x in mix],
                "counts_1h": [0] * 8,
                "counts_1d": [0] * 8,
                "last_event_ms": now - 60_000,
                "hidden_items": [],
                "engaged_items": recent,
                "event_timestamp": ts,
            }
        )
    store = open_store(settings)
    have = {f.name for f in store.get_feature_view(USER_FRESH_VIEW).features} | {"user_id", "event_timestamp"}
    store.write_to_online_store(
        USER_FRESH_VIEW, pd.DataFrame([{k: v for k, v in r.items() if k in have} for r in rows])
    )
    return sorted(events)


def request_file(users: list[str], args: argparse.Namespace, out: Path) -> Path:
    """ghz sends the messages of a JSON array round robin: random users, the benchmark's page shape."""
    rng = random.Random(0)
    reqs = [
        {
            "user_id": rng.choice(users),
            "n_rows": args.rows,
            "items_per_row": args.items_per_row,
            "context": {"device": "TV", "country": "DE"},
        }
        for _ in range(5000)
    ]
    out.write_text(json.dumps(reqs))
    return out


def run_ghz(
    args: argparse.Namespace, port: int, data: Path, rate: int, duration: float, extra: tuple[str, ...] = ()
) -> dict:
    """One open-loop ghz run (``--async``: sends on schedule whatever is in flight); its JSON report. ``extra``:
    more ghz options (e.g. ``--protoset``: no reflection)."""
    cmd = [
        str(args.ghz),
        "--insecure",
        "--call",
        "hybridrec.v1.Ranker/GetHomepage",
        "--data-file",
        str(data),
        "--rps",
        str(rate),
        "--duration",
        f"{duration}s",
        # At the end of the duration ghz's default ("close") closes the connections under the calls still in
        # flight and reports each as UNAVAILABLE ("transport is closing"), though the server answered it: one
        # or two "errors" at every rate. "wait" lets them finish and counts them as what they are.
        "--duration-stop",
        "wait",
        "--async",
        "--connections",
        str(args.connections),
        "--concurrency",
        str(max(50, rate // 4)),
        "--timeout",
        f"{args.deadline_ms / 1000}s",
        "--format",
        "json",
        "--skipFirst",
        "0",
        *extra,
        f"127.0.0.1:{port}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"ghz failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    report["_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report


def py_spy_start(pid: int, duration: float, out: Path) -> subprocess.Popen:
    """py-spy sampling the server (and its workers) for one rate's run, without pausing it (``--nonblocking``),
    samples aggregated per function (``--function``)."""
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--subprocesses"]
    cmd += ["--nonblocking", "--function"]
    cmd += ["--rate", str(PY_SPY_HZ), "--duration", str(int(duration)), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_summary(out: Path, pages: int, top: int = 30) -> str:
    """CPU ms per page of the top frames from py-spy's collapsed stacks: self (the innermost frame) and inclusive
    (every frame on the stack once). Idle threads are not sampled, so this is the server's on-CPU Python time."""
    self_n: Counter[str] = Counter()
    incl_n: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]  # --subprocesses' root frame
        count = int(n)
        total += count
        if frames:
            self_n[frames[-1]] += count
        for f in set(frames):
            incl_n[f] += count
    ms = 1000.0 / PY_SPY_HZ / max(pages, 1)
    lines = [f"py-spy: {total} samples at {PY_SPY_HZ} Hz = {total * ms:.3f} ms per page over {pages} pages"]
    for title, c in (("self", self_n), ("inclusive", incl_n)):
        lines.append(f"  top {title} (ms per page):")
        lines += [f"    {v * ms:7.3f}  {k}" for k, v in c.most_common(top)]
    return "\n".join(lines)


def summarise(rate: int, report: dict, before: dict, after: dict, server_cpu_s: float, load: tuple) -> dict:
    pct = {f"p{int(p['percentage'])}": p["latency"] / 1e6 for p in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    sent = int(report.get("count", 0))
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    pages = delta.get("pages:full", 0.0) + delta.get("pages:degraded", 0.0)
    degraded = delta.get("pages:degraded", 0.0)
    reasons = {k[7:]: int(v) for k, v in delta.items() if k.startswith("reason:") and v > 0}
    stages = {
        k[10:]: round(v / delta[f"stage_count:{k[10:]}"] * 1000, 2)
        for k, v in delta.items()
        if k.startswith("stage_sum:") and delta.get(f"stage_count:{k[10:]}")
    }
    ok = int(codes.get("OK", 0))
    errors = sent - ok
    res = {
        "rate": rate,
        "sent": sent,
        "achieved_rps": round(report.get("rps", 0.0), 1),
        "p50_ms": round(pct.get("p50", 0), 2),
        "p95_ms": round(pct.get("p95", 0), 2),
        "p99_ms": round(pct.get("p99", 0), 2),
        "max_ms": round(report.get("slowest", 0) / 1e6, 2),
        "codes": codes,
        "errors": errors,
        "error_messages": report.get("errorDistribution") or {},
        "pages": int(pages),
        "degraded_pages": int(degraded),
        "degraded_share": round(degraded / pages, 5) if pages else None,
        "degraded_reasons": reasons,
        "server_cpu_ms_per_page": round(server_cpu_s / pages * 1000, 3) if pages else None,
        "ghz_cpu_ms_per_request": round(report["_cpu_s"] / sent * 1000, 3) if sent else None,
        "served_per_worker": [int(v) for k, v in sorted(delta.items()) if k.startswith("served:")],
        "stage_mean_ms": stages,
        "load_avg_1m": [round(load[0], 2), round(os.getloadavg()[0], 2)],
    }
    res["meets_slo"] = bool(
        sent and errors == 0 and res["p99_ms"] <= SLO_P99_MS and pages and degraded / pages < SLO_DEGRADED
    )
    return res


def serve(args: argparse.Namespace, environ: dict[str, str], profile_out: Path | None = None) -> subprocess.Popen:
    """The ranker as users start it; with ``profile_out``, under cProfile (one worker: the profiled process is
    the server; its stats are written when it stops gracefully on SIGTERM)."""
    prof = [sys.executable, "-m", "cProfile", "-o", str(profile_out)] if profile_out is not None else [sys.executable]
    cmd = [*prof, "-m", "serving.main", "--log-level", "WARNING"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    return subprocess.Popen(cmd, cwd=ROOT, env=environ)


def wait_ready(port: int, users: list[str], timeout_s: float = 300.0) -> str:
    import grpc

    from hybridrec_pb import ranker_pb2 as pb
    from hybridrec_pb import ranker_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ranker_pb2_grpc.RankerStub(channel)
        while time.monotonic() < deadline:
            try:
                page = stub.GetHomepage(pb.HomepageRequest(user_id=users[0]), timeout=2)
                if page.model_version:
                    return page.model_version
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError(f"the ranker on port {port} served no model within {timeout_s:.0f} s")


def load_test(args: argparse.Namespace, settings, environ: dict[str, str], users: list[str]) -> int:
    cfg = settings.serving
    port, metrics_port = cfg.port, cfg.metrics_port
    workers = args.workers or cfg.worker_count
    ports = [metrics_port + i for i in range(workers)]
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    data = request_file(users, args, tmp / "requests.json")
    if args.profile and workers != 1:
        raise SystemExit("--profile of the load test needs --workers 1 (the profiled process is the server)")
    profile_out = Path(settings.paths.run_dir) / "bench" / "serving-server.prof" if args.profile else None
    server = serve(args, environ, profile_out)
    results = []
    try:
        version = wait_ready(port, users)
        # warm-up: connections, the loop's first pages; not reported
        run_ghz(args, port, data, 50, 5, tuple(args.ghz_arg))
        print(
            f"model {version}, {workers} worker(s), {len(users)} users, ghz open loop, {args.connections} "
            f"connections, deadline {args.deadline_ms:g} ms",
            file=sys.stderr,
        )
        for rate in args.rates:
            load, before, cpu0 = os.getloadavg(), counters(ports), tree_cpu_s(server.pid)
            spy_out = Path(settings.paths.run_dir) / "bench" / f"serving-{rate}.py-spy.txt"
            spy = py_spy_start(server.pid, args.duration, spy_out) if args.py_spy else None
            report = run_ghz(args, port, data, rate, args.duration, tuple(args.ghz_arg))
            res = summarise(rate, report, before, counters(ports), tree_cpu_s(server.pid) - cpu0, load)
            res.update(model=version, workers=workers, dataset=args.dataset)
            results.append(res)
            print(json.dumps(res), flush=True)
            if spy is not None:
                spy.wait(args.duration + 30)
                print(py_spy_summary(spy_out, res["pages"]), flush=True)
    finally:
        server.terminate()
        server.wait(60)
        if profile_out is not None and profile_out.exists():
            import pstats

            print(f"server profile ({profile_out}) of the whole process, start-up and warm-up included:")
            pstats.Stats(str(profile_out)).sort_stats(args.sort).print_stats(45)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    print(
        f"\n{args.dataset}, {workers} worker(s): rate  achieved  p50  p95  p99 ms  errors  degraded  "
        "server CPU/page  ghz CPU/req  load"
    )
    for r in results:
        print(
            f"{r['rate']:>5} {r['achieved_rps']:>8} {r['p50_ms']:>6} {r['p95_ms']:>6} {r['p99_ms']:>7} "
            f"{r['errors']:>6} {r['degraded_pages']:>5}/{r['pages']} {r['degraded_reasons'] or ''} "
            f"{r['server_cpu_ms_per_page']} ms  {r['ghz_cpu_ms_per_request']} ms  {r['load_avg_1m']}"
            f"{'  SLO met' if r['meets_slo'] else ''}"
        )
    met = [r["rate"] for r in results if r["meets_slo"]]
    print(
        f"highest rate with p99 <= {SLO_P99_MS:g} ms and < {SLO_DEGRADED:.1%} degraded: "
        f"{max(met) if met else 'none of ' + str(args.rates)} req/s"
    )
    return 0


class CpuWorld(NamedTuple):
    """What ``--cpu`` runs pages on: the engine over the real model and features, and the queries."""

    engine: Any
    model: Any
    sink: Any
    queries: list
    users_with_features: int


def cpu_world(args: argparse.Namespace, settings, users: list[str], pages: int, now_ms: int | None = None) -> CpuWorld:
    """The engine on the real model and the users' real features (read once from Redis), and ``pages``
    homepage queries for random users (seeded: every run asks the same users; both sides of
    ``benchmarks/cpu_ab.py`` also share ``now_ms``, the requests' time, so they ask the same pages)."""
    import numpy as np

    from hybridrec.registry import ModelRegistry
    from serving.catalog import Catalog
    from serving.domain import Context, HomepageQuery
    from serving.engine import Engine
    from serving.features.memory import MemoryFeatures
    from serving.features.redis_direct import RedisFeatureReader
    from serving.metrics import Metrics
    from serving.model.bundle import load_version
    from serving.server import pin_threads
    from serving.sink.kafka import KafkaImpressionSink
    from serving.sink.memory import MemorySink
    from serving.trending import Trend, popular_order

    class Holder:
        current = None

    pin_threads()
    reader = RedisFeatureReader(settings.redis, settings.feast.project)

    async def read() -> tuple[dict, dict]:
        try:
            feats = {u: f for u in users if (f := await reader.read_user(u)) is not None}
            return feats, await reader.read_items(model.item_ids)
        finally:
            await reader.close()

    registry = ModelRegistry(settings.paths.registry_root)
    model = load_version(registry.get(registry.current_version()))
    feats, items = asyncio.run(read())
    model.attach_item_features(items, {})
    Holder.current = model
    metrics = Metrics()
    # --sink kafka: the server's sink on the real broker, its producer threads counted in the process CPU
    sink = KafkaImpressionSink(settings.kafka, metrics) if args.sink == "kafka" else MemorySink()
    cfg = settings.serving.model_copy(update={"log_impressions": args.sink == "kafka"})
    engine = Engine(cfg, Holder(), MemoryFeatures(users=feats), sink, metrics, Catalog())
    # FOR_YOU's recent-popularity part is the speed layer's item_fresh, which the bench project lacks: the model's
    # popularity order stands in for it (the prior's cost is the same dense vector whatever its values)
    recent = np.zeros(len(model.item_ids), np.float32)
    popular = model.popular_pos[model.popular_pos >= 0]
    recent[popular] = np.log1p(1000.0 / (1.0 + np.arange(len(popular))))
    engine.trend = Trend(version=model.version, recent=recent, recent_order=popular_order(recent))
    if "recent_all" in Trend.__dataclass_fields__:  # a revision that serves the learned fusion: the same stand-in
        from serving.logic import prior

        engine.trend.recent_all = (recent, recent, recent)
        engine.trend.item_last_ms = np.zeros(len(model.item_ids), np.int64)
        if cfg.fusion:
            engine.trend.cold_order = prior.cold_order(model, engine.trend)
    rng = random.Random(0)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    queries = [
        HomepageQuery(rng.choice(users), Context("TV", "DE", now), args.rows, args.items_per_row, True, f"r{k}", 10.0)
        for k in range(pages)
    ]
    return CpuWorld(engine, model, sink, queries, len(feats))


async def run_pages(engine, queries: list) -> list:
    """The pages of ``queries``, one per loop iteration as served (the deferred log drains in between)."""
    out = []
    for q in queries:
        out.append(await engine.homepage(q))
        await asyncio.sleep(0)
    return out


def cpu_per_page(args: argparse.Namespace, settings, users: list[str]) -> int:
    """Sequential in-process pages on the real model and features: CPU ms per page and per stage."""
    import cProfile
    import pstats

    import numpy as np

    from serving.model.watcher import settle_heap
    from serving.sink.kafka import KafkaImpressionSink

    world = cpu_world(args, settings, users, args.cpu)
    engine, sink = world.engine, world.sink
    asyncio.run(run_pages(engine, world.queries[:100]))  # warm-up
    settle_heap()
    prof = cProfile.Profile() if args.profile else None
    c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    if prof is not None:
        prof.enable()
    stages = [page.stage_ms for page in asyncio.run(run_pages(engine, world.queries))]
    if isinstance(sink, KafkaImpressionSink):
        sink.close(30.0)  # every log delivered inside the measured window
    if prof is not None:
        prof.disable()
    cpu, main_cpu, wall = time.process_time() - c0, time.thread_time() - m0, time.perf_counter() - t0
    means = {
        k: round(float(np.mean([s.get(k, 0.0) for s in stages])), 3)
        for k in ("features", "candidates", "scoring", "assemble")
    }
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "model": world.model.version,
                "pages": args.cpu,
                "users_with_features": world.users_with_features,
                "sink": args.sink,
                "cpu_ms_per_page": round(cpu / args.cpu * 1000, 3),
                # the loop's thread alone: the rest is other threads' (librdkafka's, with --sink kafka)
                "main_thread_cpu_ms_per_page": round(main_cpu / args.cpu * 1000, 3),
                "wall_ms_per_page": round(wall / args.cpu * 1000, 3),
                "stage_mean_ms": means,
                "profiled": bool(prof),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats(args.sort).print_stats(45)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-latest-small"])
    p.add_argument("--path", help="dataset directory (default: the datasets dir)")
    p.add_argument("--data-dir", help="a batch benchmark's data dir (default: its own for --dataset)")
    p.add_argument("--rates", default="100,200,300,400", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--items-per-row", type=int, default=20)
    p.add_argument("--deadline-ms", type=float, default=250.0)
    p.add_argument("--workers", type=int, default=0, help="server processes (default: serving.workers)")
    p.add_argument(
        "--connections", type=int, default=8, help="ghz's gRPC connections (the kernel hashes each to one worker)"
    )
    p.add_argument("--ghz", type=Path, default=ROOT / ".deps" / "bin" / "ghz", help="ghz binary (make ghz)")
    p.add_argument(
        "--ghz-arg",
        action="append",
        default=[],
        help="one more ghz option, e.g. --ghz-arg=--cpus=1 (repeatable; the load generator's own knobs)",
    )
    p.add_argument("--cpu", type=int, default=0, help="N sequential in-process pages: CPU per page")
    p.add_argument(
        "--sink",
        default="memory",
        choices=["memory", "kafka"],
        help="--cpu's impression sink: none logged (memory), or the server's Kafka sink on the real broker",
    )
    p.add_argument(
        "--profile", action="store_true", help="cProfile top functions: of --cpu's pages, or of the server (1 worker)"
    )
    p.add_argument(
        "--py-spy", action="store_true", help="sample the server with py-spy during each rate: top frames per page"
    )
    p.add_argument("--sort", default="tottime", help="with --profile: pstats sort key (tottime, cumulative)")
    return p


def prepare(args: argparse.Namespace, seed: bool = True) -> tuple[Any, dict[str, str], list[str]]:
    """The settings of the dataset's batch run (its model, run first when missing), the environment the server
    needs for them, and the users whose live sessions it wrote to Redis (none without ``seed``)."""
    data_dir = data_dir_of(args)
    ensure_model(args, data_dir)
    project = "bench_" + re.sub(r"\W", "_", args.dataset)  # the batch benchmark's Feast project
    environ = {**os.environ, "HYBRIDREC_PATHS__DATA_DIR": str(data_dir), "HYBRIDREC_FEAST__PROJECT": project}
    os.environ.update(environ)  # before the settings are read
    from serving.config import ServingSettings

    settings = ServingSettings()
    return settings, environ, seed_fresh(settings, args.dataset, args.path) if seed else []


def main() -> int:
    args = parser().parse_args()
    settings, environ, users = prepare(args)
    if args.cpu:
        return cpu_per_page(args, settings, users)
    if not args.ghz.exists():
        raise SystemExit(f"{args.ghz} missing: run `make ghz`")
    return load_test(args, settings, environ, users)


if __name__ == "__main__":
    raise SystemExit(main())
