"""Load test of the ranker: an open-loop asyncio gRPC client (this process) against `hybridrec serve` in its
own process, at fixed request rates for a bounded time each, on loopback only.

Sets up an isolated world first: a Feast project of its own in the shared Redis (user and item features for
every user/item), a registry under a temporary directory with a ranker of the batch layer's architecture
(default hidden layers 64×32, rank 32, untrained weights: latency does not depend on the weights), and its
own impressions topic. Prints p50/p95/p99 per rate and the per-stage breakdown scraped from the server's
Prometheus histograms (mean, and the p95 bucket bound).

    .venv/bin/python benchmarks/serving_load.py [--rates 50,100,200,400] [--duration 60] [--users 5000]
        [--items 5000] [--rows 5] [--items-per-row 20] [--deadline-ms 250] [--workers 1] [--channels 4]

``--cpu N`` instead measures the CPU cost of one request without the network or Redis: N sequential
``Engine.homepage`` calls in this process on the same world (in-memory features), process CPU time per
request and the stage means; ``--profile`` adds the cProfile top functions. CPU time, not wall time, so the
figure depends little on what else the shared machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridrec.kafka.topics import delete_topics, ensure_topics  # noqa: E402
from hybridrec.registry import ModelRegistry  # noqa: E402
from hybridrec_pb import ranker_pb2 as pb  # noqa: E402
from hybridrec_pb import ranker_pb2_grpc  # noqa: E402
from serving.config import ServingSettings  # noqa: E402
from streaming.testkit import drop_online_rows  # noqa: E402
from tests.integration.serving import serving_env as env  # noqa: E402
from tests.unit.serving import serving_kit as kit  # noqa: E402

STAGES = ("features", "candidates", "scoring", "assemble")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_port_block(n: int) -> int:
    """A port p with p .. p+n-1 free (the workers' metrics ports)."""
    for _ in range(100):
        p = _free_port()
        try:
            socks = []
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p + i))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports")


def scrape(ports: list[int]) -> dict[str, dict[str, float]]:
    """Per stage, summed over the worker processes: cumulative bucket counts, sum and count of
    hybridrec_serving_stage_seconds."""
    out: dict[str, dict[str, float]] = {}
    for port in ports:
        for stage, values in _scrape_one(port).items():
            acc = out.setdefault(stage, {})
            for k, v in values.items():
                acc[k] = acc.get(k, 0.0) + v
    return out


def _scrape_one(port: int) -> dict[str, dict[str, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, dict[str, float]] = {}
    for m in re.finditer(r'^hybridrec_serving_stage_seconds_(bucket|sum|count)\{(?:le="([^"]+)",)?stage="(\w+)"'
                         r'(?:,le="([^"]+)")?\} (\S+)$', text, re.M):
        kind, le1, stage, le2, value = m.groups()
        key = f"le:{le1 or le2}" if kind == "bucket" else kind
        out.setdefault(stage, {})[key] = float(value)
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the worker processes), from /proc."""
    return sum(thread_cpu_s(pid).values())


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (summed over ``pid`` and its descendants): where the server's CPU goes
    beyond the Python event loop (gRPC core, librdkafka, the metrics HTTP thread)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except (FileNotFoundError, ProcessLookupError):
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                # Thread names like "rdk:broker1" or "grpc_global_tim": group numbered ones.
                key = "python threads (event loop, metrics)" if name.startswith("python") else re.sub(r"\d+$", "", name)
                out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
                todo += [int(c) for c in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
    return out


def requests_served(ports: list[int]) -> list[float]:
    """GetHomepage calls answered per worker process (its request histogram count): how evenly the kernel's
    SO_REUSEPORT hashing spread the client's connections."""
    out = []
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        m = re.search(r'^hybridrec_serving_request_seconds_count\{method="GetHomepage"\} (\S+)$', text, re.M)
        out.append(float(m.group(1)) if m else 0.0)
    return out


def stage_summary(before: dict, after: dict) -> dict[str, dict[str, float]]:
    res = {}
    for stage in STAGES:
        a, b = after.get(stage, {}), before.get(stage, {})
        n = a.get("count", 0) - b.get("count", 0)
        if n <= 0:
            continue
        mean = (a.get("sum", 0) - b.get("sum", 0)) / n
        bounds = sorted((float(k[3:]), a[k] - b.get(k, 0)) for k in a if k.startswith("le:") and k != "le:+Inf")
        p95 = next((le for le, c in bounds if c >= 0.95 * n), float("inf"))
        res[stage] = {"n": n, "mean_ms": round(mean * 1000, 2), "p95_le_ms": round(p95 * 1000, 1)}
    return res


async def run_rate(stubs: list[ranker_pb2_grpc.RankerStub], rate: int, duration: float, users: list[str], args) -> dict:
    rng = random.Random(rate)
    lat: list[float] = []
    codes: Counter[str] = Counter()
    degraded: Counter[str] = Counter()
    late = 0

    async def one(user: str, stub: ranker_pb2_grpc.RankerStub) -> None:
        t0 = time.perf_counter()
        try:
            r = await stub.GetHomepage(pb.HomepageRequest(user_id=user, n_rows=args.rows,
                                                          items_per_row=args.items_per_row,
                                                          context=pb.RequestContext(device=1, country="DE")),
                                       timeout=args.deadline_ms / 1000)
            codes["OK"] += 1
            degraded.update(r.degraded)
        except grpc.aio.AioRpcError as exc:
            codes[exc.code().name] += 1
        lat.append(time.perf_counter() - t0)

    tasks = []
    n = int(rate * duration)
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.01:
            late += 1
        tasks.append(asyncio.create_task(one(rng.choice(users), stubs[i % len(stubs)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    ms = np.array(lat) * 1000
    return {"rate": rate, "sent": n, "achieved_rps": round(n / elapsed, 1), "client_late_sends": late,
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
            "codes": dict(codes), "degraded": dict(degraded)}


def setup(tmp: Path, args) -> tuple[ServingSettings, list[str]]:
    base = ServingSettings()
    settings = env.serving_settings(base, tmp)
    topics = base.kafka.topics.model_copy(update={"impressions": f"bench-{uuid.uuid4().hex[:8]}.impressions"})
    settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topics": topics})})
    ensure_topics(settings.kafka)
    w = kit.world(n_users=args.users, n_items=args.items)
    now = int(time.time() * 1000)
    users = {u: kit.heavy_user(w, now_ms=now) for u in w.user_ids}
    rng = random.Random(0)
    users = {u: type(f)(**{**f.__dict__, "recent_items": tuple(rng.sample(w.item_ids, 10))}) for u, f in users.items()}
    t0 = time.perf_counter()
    env.seed_features(settings, w, users)
    print(f"seeded {len(users)} users, {len(w.item_ids)} items into Feast project {settings.feast.project} "
          f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    files = kit.write_version_files(tmp / "build", w, rank=args.rank, hidden=tuple(args.hidden))
    reg = ModelRegistry(settings.paths.registry_root)
    reg.promote(reg.publish(files, {}).version, reason="benchmark")
    return settings, w.user_ids


async def drive(port: int, metrics_ports: list[int], users: list[str], args, server_pid: int) -> list[dict]:
    # Separate connections (distinct channel args defeat subchannel sharing) so the kernel can spread them
    # over the worker processes.
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("bench.channel", i)])
                for i in range(args.channels)]
    stubs = [ranker_pb2_grpc.RankerStub(c) for c in channels]
    for st in stubs:  # wait for every worker (connection) and its first model
        for _ in range(600):
            try:
                r = await st.GetHomepage(pb.HomepageRequest(user_id=users[0]), timeout=1)
                if r.model_version:
                    break
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    await run_rate(stubs, 50, 3, users, args)  # warm-up, not reported
    # The client imported torch, Feast and Spark-free world building: a full GC over that heap stalls its send
    # loop for 100+ ms, then the late sends leave as one burst that the server sees as a load spike.
    gc.collect()
    gc.freeze()
    results = []
    for rate in args.rates:
        before, load0 = scrape(metrics_ports), os.getloadavg()[0]
        threads0, served0, client0 = thread_cpu_s(server_pid), requests_served(metrics_ports), time.process_time()
        res = await run_rate(stubs, rate, args.duration, users, args)
        res["stages"] = stage_summary(before, scrape(metrics_ports))
        # Server CPU per request: what the requests cost whatever else the machine runs.
        threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu_s(server_pid).items()}
        res["server_cpu_ms_per_request"] = round(sum(threads.values()) / res["sent"] * 1000, 2)
        res["server_cpu_ms_per_request_by_thread"] = {k: round(v / res["sent"] * 1000, 2) for k, v in
                                                      sorted(threads.items(), key=lambda kv: -kv[1]) if v > 0}
        # The load generator shares the machine's cores with the server: its CPU is part of the picture.
        res["client_cpu_ms_per_request"] = round((time.process_time() - client0) / res["sent"] * 1000, 2)
        res["served_per_worker"] = [round(b - a) for a, b in zip(served0, requests_served(metrics_ports),
                                                                    strict=True)]
        res["load_avg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        results.append(res)
        print(json.dumps(res), flush=True)
    for c in channels:
        await c.close()
    return results


def cpu_per_request(args) -> int:
    """Sequential in-process requests: CPU ms per request and per stage (no gRPC, no Redis)."""
    import cProfile
    import pstats
    from dataclasses import dataclass

    from serving.config import ServingConfig
    from serving.domain import Context, HomepageQuery
    from serving.engine import Engine
    from serving.features.memory import MemoryFeatures
    from serving.metrics import Metrics
    from serving.model.bundle import LoadedModel, load_version
    from serving.sink.memory import MemorySink
    from serving.trending import Trend

    @dataclass
    class Holder:
        current: LoadedModel | None

    import faiss
    import torch

    torch.set_num_threads(1)  # as serve() does
    faiss.omp_set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="serving-cpu-"))
    try:
        w = kit.world(n_users=args.users, n_items=args.items)
        now = int(time.time() * 1000)
        rng = random.Random(0)
        base = kit.heavy_user(w, now_ms=now)
        users = {u: type(base)(**{**base.__dict__, "recent_items": tuple(rng.sample(w.item_ids, 10))})
                 for u in w.user_ids}
        files = kit.write_version_files(tmp / "build", w, rank=args.rank, hidden=tuple(args.hidden))
        reg = ModelRegistry(tmp / "registry")
        model = load_version(reg.publish(files, {}))
        model.attach_item_features(w.item_features(), {})
        trend = Trend(w.item_ids[100:400], list(range(300, 0, -1)))
        cfg = ServingConfig(log_impressions=False)
        engine = Engine(cfg, Holder(model), MemoryFeatures(users=users), MemorySink(), Metrics(), w.catalog(), trend)
        queries = [HomepageQuery(rng.choice(w.user_ids), Context("TV", "DE", now), args.rows, args.items_per_row,
                                 True, f"r{k}", 10.0) for k in range(args.cpu)]

        async def run(qs: list[HomepageQuery]) -> list[dict[str, float]]:
            return [(await engine.homepage(q)).stage_ms for q in qs]

        asyncio.run(run(queries[:50]))  # warm-up
        prof = cProfile.Profile() if args.profile else None
        c0, t0 = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        stages = asyncio.run(run(queries))
        if prof is not None:
            prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        means = {k: round(float(np.mean([s.get(k, 0.0) for s in stages])), 3) for k in STAGES}
        print(json.dumps({"requests": args.cpu, "cpu_ms_per_request": round(cpu / args.cpu * 1000, 3),
                          "wall_ms_per_request": round(wall / args.cpu * 1000, 3), "stage_mean_ms": means,
                          "profiled": bool(prof)}))
        if prof is not None:
            pstats.Stats(prof).sort_stats(args.sort).print_stats(40)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rates", default="50,100,200,400", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--items", type=int, default=5000)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--hidden", type=lambda s: [int(x) for x in s.split(",")], default=[64, 32])
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--items-per-row", type=int, default=20)
    p.add_argument("--deadline-ms", type=float, default=250.0)
    p.add_argument("--workers", type=int, default=1, help="server processes on the port (SO_REUSEPORT)")
    p.add_argument("--channels", type=int, default=0,
                   help="client connections (the kernel hashes each to one worker); default 4, 16 with workers")
    p.add_argument("--cpu", type=int, default=0, help="N sequential in-process requests: CPU per request")
    p.add_argument("--profile", action="store_true", help="with --cpu: cProfile top functions")
    p.add_argument("--sort", default="tottime", help="with --profile: pstats sort key (tottime, cumulative)")
    args = p.parse_args()
    # With few connections SO_REUSEPORT's hashing often puts 3 of 4 on one worker; 16 spread within a few %.
    args.channels = args.channels or (16 if args.workers > 1 else 4)
    if args.cpu:
        return cpu_per_request(args)
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    settings, users = setup(tmp, args)
    port = _free_port()
    metrics_port = _free_port_block(args.workers)
    environ = {**os.environ, "HYBRIDREC_FEAST__PROJECT": settings.feast.project,
               "HYBRIDREC_FEAST__REGISTRY_PATH": str(settings.feast.registry_path),
               "HYBRIDREC_PATHS__REGISTRY_DIR": str(settings.paths.registry_root),
               "HYBRIDREC_SERVING__PORT": str(port), "HYBRIDREC_SERVING__METRICS_PORT": str(metrics_port),
               "HYBRIDREC_SERVING__WORKERS": str(args.workers),
               "HYBRIDREC_KAFKA__TOPICS__IMPRESSIONS": settings.kafka.topics.impressions}
    server = subprocess.Popen([sys.executable, "-m", "serving.main", "--log-level", "WARNING"], cwd=ROOT, env=environ)
    try:
        results = asyncio.run(drive(port, [metrics_port + i for i in range(args.workers)], users, args, server.pid))
    finally:
        server.terminate()
        server.wait(30)
        delete_topics(settings.kafka, [settings.kafka.topics.impressions])
        drop_online_rows(settings)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nrate  achieved  p50     p95     p99     ok/sent  degraded  cpu/req  client  load    stage means (ms)")
    for r in results:
        stages = " ".join(f"{k}={v['mean_ms']}" for k, v in r["stages"].items())
        print(f"{r['rate']:>4}  {r['achieved_rps']:>8}  {r['p50_ms']:>6}  {r['p95_ms']:>6}  {r['p99_ms']:>6}  "
              f"{r['codes'].get('OK', 0)}/{r['sent']}  {sum(r['degraded'].values()):>8}  "
              f"{r['server_cpu_ms_per_request']:>6}  {r['client_cpu_ms_per_request']:>6}  {r['load_avg_1m'][1]:>5}   "
              f"{stages}  per worker {r['served_per_worker']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
