"""``python -m demo``: the whole lambda loop on one machine, with a report.

Steps: reset the demo's namespace → history (first ~90 % by time) through Kafka → Flink → archive and fresh
features → nightly batch on the archive (train, gates, promote) → the ranker → batch-only answers for the
evaluation users → the live period streamed while sample homepages are printed and freshness is probed →
hybrid answers for the same users → a burst of fresh events for one user, homepage before and after →
``report.html``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from demo import services
from demo.client import Call, RankerClient, page_rows, render_homepage
from demo.metrics import genre_entropy, ndcg_at, percentiles, recall_at
from demo.split import Split, Target, split_events
from hybridrec.config import Settings
from hybridrec.contract import USER_FRESH_VIEW, archive_table
from hybridrec_pb import ranker_pb2 as pb

YEARS_MS = 40 * 365 * 86_400_000  # historical replays: the client clock is the replay clock (trending ages by
# the stream's own time, so it needs no such setting)


@dataclass
class Options:
    dataset: str = "ml-latest-small"
    path: str | None = None
    events: int = 100_000  # synthetic only
    eval_users: int = 500
    live_rate: float = 300.0  # events/s of the live period
    workdir: Path = Path(".run/demo")
    deadline_ms: float = 250.0  # live sample homepages: the production budget
    eval_deadline_ms: float = 1000.0  # evaluation queries: quality is measured, not the budget
    timeout_s: float = 3600.0  # for each wait on the stream
    sample_users: int = 3
    namespace: str = "demo"  # topics <namespace>-*, Feast project hybridrec_<namespace>; runs never share them


@dataclass
class Timeline:
    """What the report plots: ingest counters over time and freshness probes."""

    t0: float = field(default_factory=time.monotonic)
    ingest: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, produced, consumed, archived
    freshness: list[tuple[float, float]] = field(default_factory=list)  # t, produce → readable ms

    def now(self) -> float:
        return time.monotonic() - self.t0


def say(msg: str) -> None:
    print(msg, flush=True)


def step(n: int, msg: str) -> None:
    say(f"\n[{n}/9] {msg}")


# --- namespace -----------------------------------------------------------------------------------------


def namespace_env(workdir: Path, namespace: str, tag: str, ranker_port: int, metrics_port: int) -> dict[str, str]:
    """HYBRIDREC_* variables that give the demo its own topics, lake, registry and Feast project."""
    data = workdir.resolve() / "data"
    prefix = f"{namespace}-{tag}"
    return {
        "HYBRIDREC_KAFKA__TOPICS__INTERACTIONS": f"{prefix}.interactions",
        "HYBRIDREC_KAFKA__TOPICS__DLQ": f"{prefix}.interactions.dlq",
        "HYBRIDREC_KAFKA__TOPICS__IMPRESSIONS": f"{prefix}.impressions",
        "HYBRIDREC_KAFKA__TOPICS__CATALOG": f"{prefix}.catalog",
        "HYBRIDREC_PATHS__DATA_DIR": str(data),
        "HYBRIDREC_PATHS__REGISTRY_DIR": str(data / "registry"),
        "HYBRIDREC_FEAST__PROJECT": f"hybridrec_{namespace}",
        "HYBRIDREC_FEAST__REGISTRY_PATH": str(data / "feast" / "registry.db"),
        "HYBRIDREC_STREAMING__GROUP_ID": f"{prefix}-streaming",
        "HYBRIDREC_STREAMING__CHECKPOINT_INTERVAL_MS": "5000",
        # Replays pause (the batch run) and end; the demo's clock events reach every partition, so no partition
        # needs idleness to stop holding the watermark. With idleness on, partitions idle through the batch run
        # did not advance the watermark on the first nudge after it.
        "HYBRIDREC_STREAMING__SOURCE_IDLE_TIMEOUT_MS": "0",
        "HYBRIDREC_SERVING__PORT": str(ranker_port),
        "HYBRIDREC_SERVING__METRICS_PORT": str(metrics_port),
        "HYBRIDREC_SERVING__MAX_CLOCK_SKEW_MS": str(YEARS_MS),
    }


def reset(settings: Settings, workdir: Path, namespace: str) -> None:
    """Forget earlier runs of this namespace: their topics, their Feast keys in Redis, their lake and registry."""
    import redis

    from hybridrec.kafka.topics import admin_client, delete_topics

    old = [t for t in admin_client(settings.kafka).list_topics(timeout=30).topics if t.startswith(f"{namespace}-")]
    if old:
        delete_topics(settings.kafka, old)
    r = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    for keys in _chunks(list(r.scan_iter(match=f"*{settings.feast.project}", count=10_000)), 5_000):
        r.delete(*keys)
    shutil.rmtree(workdir / "data", ignore_errors=True)


def _chunks(xs: list[Any], n: int) -> list[list[Any]]:
    return [xs[i : i + n] for i in range(0, len(xs), n)]


# --- streaming helpers ---------------------------------------------------------------------------------


def send_clock(settings: Settings, at_ms: int) -> int:
    """One IMPRESSION per partition at ``at_ms``: moves every partition's watermark there, so the job fires
    every window before it (a live stream does this by itself; a finished replay needs a nudge)."""
    from confluent_kafka import Producer

    from hybridrec_pb.events_pb2 import EventType, InteractionEvent

    p = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    n = settings.kafka.topics.partitions
    for part in range(n):
        user = f"__clock-{part}"
        e = InteractionEvent(
            event_id=f"clock-{at_ms}-{part}",
            user_id=user,
            item_id="__clock",
            event_type=EventType.IMPRESSION,
            event_time_ms=at_ms,
            position=-1,
        )
        p.produce(settings.kafka.topics.interactions, e.SerializeToString(), user.encode(), partition=part)
    if p.flush(30):
        raise services.ServiceFailed("clock events were not delivered")
    return n


def fresh_last_event(store: Any, users: list[str]) -> dict[str, int | None]:
    """user_fresh:last_event_ms through Feast, as serving sees it."""
    got: dict[str, int | None] = {}
    for chunk in _chunks(users, 500):
        d = store.get_online_features(
            features=[f"{USER_FRESH_VIEW}:last_event_ms"], entity_rows=[{"user_id": u} for u in chunk]
        ).to_dict()
        got.update(zip(d["user_id"], d["last_event_ms"], strict=True))
    return got


class Sampler(threading.Thread):
    """Every 2 s: events produced, consumed by the job (committed offsets) and archived."""

    def __init__(self, settings: Settings, group: str, timeline: Timeline) -> None:
        super().__init__(daemon=True)
        self.settings, self.group, self.timeline = settings, group, timeline
        self.stop_event = threading.Event()
        self.last: tuple[int, int, int] = (0, 0, 0)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                consumed, end = services.consumed(self.settings, self.group)
                self.last = (end, consumed, services.archived(self.settings))
                self.timeline.ingest.append((self.timeline.now(), *self.last))
            except FileNotFoundError:
                pass  # the nightly batch compacted archive files away mid-read; the next sample reads the new ones
            except Exception as exc:  # a sample lost is fine; the waits check the real condition
                say(f"  (sampler: {exc})")
            self.stop_event.wait(2.0)


def drain(
    settings: Settings, sampler: Sampler, job: services.Child, produced: int, archived: int, timeout_s: float
) -> None:
    """Wait until the job has consumed everything and archived ``archived`` events; print progress when it
    moves (the counters advance on checkpoints)."""
    shown: list[tuple[int, int, int]] = [(-1, -1, -1)]

    def done() -> bool:
        end, consumed, arch = sampler.last
        if (consumed, arch) != shown[0][1:]:
            if consumed == 0 and arch == 0:
                say("  waiting for the job's first checkpoint (JVM and planner start up)")
            else:
                rate = _rate(sampler.timeline.ingest)
                say(
                    f"  flink: consumed {consumed:,}/{produced:,}, archived {arch:,}/{archived:,} "
                    f"({rate:,.0f} events/s)"
                )
            shown[0] = (end, consumed, arch)
        return end >= produced and consumed >= end and arch >= archived

    services.wait_until("the Flink job to consume and archive the stream", done, timeout_s, [job])


def _rate(ingest: list[tuple[float, int, int, int]], span_s: float = 20.0) -> float:
    """Consumption rate over the last ``span_s`` of samples."""
    if len(ingest) < 2:
        return 0.0
    t1, _, c1, _ = ingest[-1]
    t0, _, c0, _ = next((s for s in ingest if s[0] >= t1 - span_s), ingest[0])
    return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


# --- evaluation ----------------------------------------------------------------------------------------


def rank_lists(
    client: RankerClient, targets: list[Target], deadline_ms: float, *, popularity: bool
) -> dict[str, dict[str, Call]]:
    """Each target user's FOR_YOU row (and POPULAR row) as of the target's time."""
    out: dict[str, dict[str, Call]] = {"model": {}, "popularity": {}}
    for t in targets:
        out["model"][t.user_id] = client.row(
            t.user_id, pb.FOR_YOU, 20, time_ms=t.event_time_ms - 1, deadline_ms=deadline_ms
        )
        if popularity:
            out["popularity"][t.user_id] = client.row(
                t.user_id, pb.POPULAR, 20, time_ms=t.event_time_ms - 1, deadline_ms=deadline_ms
            )
    return out


def score(targets: list[Target], lists: dict[str, Call], genres_of: dict[str, tuple[str, ...]]) -> dict[str, float]:
    calls = [lists[t.user_id] for t in targets]
    pairs = list(zip(targets, calls, strict=True))
    return {
        "ndcg@10": float(np.mean([ndcg_at(t.item_id, c.items, 10) for t, c in pairs])) if pairs else float("nan"),
        "recall@20": float(np.mean([recall_at(t.item_id, c.items, 20) for t, c in pairs])) if pairs else float("nan"),
        "genre_entropy": float(np.mean([genre_entropy(c.items, genres_of) for c in calls])) if calls else float("nan"),
        "users": len(targets),
        "degraded": sum(1 for c in calls if c.degraded or c.error),
        "errors": sum(1 for c in calls if c.error),
    }


def lambda_gain(
    targets: list[Target],
    before: dict[str, dict[str, Call]],
    after: dict[str, dict[str, Call]],
    genres_of: dict[str, tuple[str, ...]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics per segment (all users, returning, new) and mode."""
    segments = {
        "all": targets,
        "returning": [t for t in targets if t.returning],
        "new": [t for t in targets if not t.returning],
    }
    return {
        seg: {
            "popularity": score(ts, before["popularity"], genres_of),
            "batch-only": score(ts, before["model"], genres_of),
            "hybrid": score(ts, after["model"], genres_of),
        }
        for seg, ts in segments.items()
    }


# --- the run -------------------------------------------------------------------------------------------


def run(opts: Options) -> dict[str, Any]:
    from hybridrec import catalog
    from hybridrec.cli import open_dataset
    from hybridrec.config import get_settings
    from hybridrec.kafka.producer import EventProducer
    from hybridrec.kafka.topics import ensure_topics

    workdir = opts.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    env_ns = namespace_env(workdir, opts.namespace, tag, services.free_port(), services.free_port())
    os.environ.update(env_ns)
    get_settings.cache_clear()
    settings = Settings()
    env = dict(os.environ)
    timeline = Timeline()
    result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds")}

    step(1, f"data: {opts.dataset}")
    ds = open_dataset(opts.dataset, settings, path=opts.path, events=opts.events, fallback_synthetic=True)
    synthetic = ds.name.startswith("synthetic")
    say(
        f"  {ds.description}"
        + (
            "  <-- SYNTHETIC data: the MovieLens files were not found"
            if synthetic and opts.dataset != "synthetic"
            else ""
        )
    )
    items = list(ds.items())
    titles = {i.item_id: i.title for i in items}
    genres_of = {i.item_id: i.genres for i in items}
    events = pa.Table.from_batches(list(ds.batches(65_536)))
    split = split_events(events, max_users=opts.eval_users)
    result.update(
        dataset=ds.name,
        description=ds.description,
        synthetic=synthetic,
        events=events.num_rows,
        history=split.history.num_rows,
        live=split.live.num_rows,
        targets=len(split.targets),
        as_of=split.as_of.isoformat(),
    )
    say(
        f"  {events.num_rows:,} events: history {split.history.num_rows:,} up to {split.as_of} (batch --as-of), "
        f"live {split.live.num_rows:,} + {len(split.targets)} held-out next items of evaluation users"
    )

    step(2, "services: Kafka, Redis (make up), the demo's topics and the Flink job")
    reset(settings, workdir, opts.namespace)
    ensure_topics(settings.kafka)
    catalog.publish(items, settings.kafka, settings.paths.lake_dir)
    job = services.start_stream_job(env, logs)
    children: list[services.Child] = [job]
    sampler = Sampler(settings, env_ns["HYBRIDREC_STREAMING__GROUP_ID"], timeline)
    try:
        say(f"  Flink job started (log: {job.log}); topics {settings.kafka.topics.interactions}, ...")
        producer = EventProducer(settings.kafka, settings.validation, component="demo")

        step(3, f"history: replay {split.history.num_rows:,} events through Kafka → Flink → archive + features")
        sampler.start()
        t = time.perf_counter()
        for batch in split.history.to_batches(max_chunksize=16_384):
            producer.send_batch(batch)
        producer.flush()
        send_clock(settings, split.split_ms - 1)
        produced = producer.stats.accepted + settings.kafka.topics.partitions
        result["replay_s"] = round(time.perf_counter() - t, 2)
        say(
            f"  produced {producer.stats.accepted:,} events in {result['replay_s']} s "
            f"(dead-lettered {producer.stats.dead_lettered})"
        )
        t = time.perf_counter()
        drain(settings, sampler, job, produced, produced, opts.timeout_s)
        result["history_stream_s"] = round(time.perf_counter() - t + result["replay_s"], 1)
        result["history_rate"] = round(produced / result["history_stream_s"])
        say(
            f"  the job consumed and archived all {produced:,} events in {result['history_stream_s']} s "
            f"({result['history_rate']:,} events/s end to end, the job's start-up included)"
        )

        step(4, f"nightly batch on the archive, as of {split.as_of} (Spark, ALS, ranker, FAISS, gates)")
        report_path = workdir / "batch_report.json"
        t = time.perf_counter()
        code = services.run_batch(
            env,
            logs,
            as_of=split.as_of.isoformat(),
            window_days=split.window_days,
            report=report_path,
            on_line=_batch_line,
        )
        if code != 0 or not report_path.exists():
            raise services.ServiceFailed(f"the batch run failed (exit {code}); log {logs / 'batch.log'}")
        batch = json.loads(report_path.read_text())
        result["batch_s"] = round(time.perf_counter() - t, 1)
        result["batch"] = batch
        say(
            f"  model {batch.get('version')}: {'PROMOTED' if batch.get('promoted') else 'NOT promoted'} "
            f"in {result['batch_s']} s"
        )

        step(5, "the ranker (gRPC), loading the promoted model")
        ranker = services.start_ranker(env, logs, int(env_ns["HYBRIDREC_SERVING__PORT"]))
        children.append(ranker)
        client = RankerClient(int(env_ns["HYBRIDREC_SERVING__PORT"]))
        probe_user = next((t.user_id for t in split.targets if t.returning), str(split.history.column("user_id")[0]))

        def model_loaded() -> bool:
            if not client.serving():
                return False
            return bool(
                client.homepage(probe_user, time_ms=split.split_ms, deadline_ms=2000)[1].model_version
            ) or not batch.get("promoted")

        services.wait_until("the ranker to serve the model", model_loaded, 300, children)
        samples = _sample_users(split, opts.sample_users)
        for user in samples:
            _print_page(client, user, split.split_ms, titles, opts.deadline_ms, "at the split")

        step(6, f"batch-only answers for {len(split.targets)} evaluation users (no event after the split seen)")
        before = rank_lists(client, split.targets, opts.eval_deadline_ms, popularity=True)

        step(7, f"live: stream {split.live.num_rows:,} events at {opts.live_rate:,.0f}/s, probing freshness")
        _stream_live(settings, producer, split, opts, timeline, client, samples, titles, job)
        last_ms = int(split.live.column("event_time_ms")[-1].as_py()) if split.live.num_rows else split.split_ms
        store = _store(settings)
        want = {t.user_id: t.last_context_ms for t in split.targets}

        def caught_up() -> bool:
            got = fresh_last_event(store, list(want))
            return all((got.get(u) or 0) >= ms for u, ms in want.items())

        try:
            services.wait_until("fresh features of every evaluation user", caught_up, 90, [job], every_s=2)
            coverage = 1.0
        except services.ServiceFailed:
            got = fresh_last_event(store, list(want))
            coverage = sum((got.get(u) or 0) >= ms for u, ms in want.items()) / max(len(want), 1)
            say(f"  only {coverage:.1%} of evaluation users' fresh features caught up; measuring anyway")
        result["fresh_coverage"] = coverage

        step(8, "hybrid answers for the same users (same model, fresh features from the stream)")
        after = rank_lists(client, split.targets, opts.eval_deadline_ms, popularity=False)
        result["gain"] = gain = lambda_gain(split.targets, before, after, genres_of)
        for seg, modes in gain.items():
            for mode, m in modes.items():
                say(
                    f"  {seg:<9} {mode:<11} NDCG@10 {m['ndcg@10']:.4f}  Recall@20 {m['recall@20']:.4f}  "
                    f"genre entropy {m['genre_entropy']:.2f}  ({m['users']} users, {m['degraded']} degraded)"
                )

        step(9, "a burst of fresh events for one user: the homepage before and after")
        result["burst"] = _burst(
            settings, producer, client, store, samples[0], last_ms + 120_000, items, titles, genres_of, opts
        )
        result["latency_ms"] = percentiles(client.latencies_ms)
        result["latencies"] = client.latencies_ms
        client.close()
    finally:
        sampler.stop_event.set()
        for child in reversed(children):
            child.stop()
    result["timeline"] = {"ingest": timeline.ingest, "freshness": timeline.freshness}
    result["freshness_ms"] = percentiles([f for _, f in timeline.freshness])
    (workdir / "result.json").write_text(json.dumps(result, default=str))
    from demo.report import write_report

    path = write_report(result, workdir / "report.html")
    say(f"\nreport: {path}")
    return result


def _batch_line(line: str) -> None:
    """The batch run's own progress lines (Spark's chatter stays in the log file)."""
    if "hybridrec" in line or "Error" in line or "PROMOTED" in line or line.startswith(("version", "stages", "  ")):
        say(f"  batch | {line[:160]}")


def _store(settings: Settings) -> Any:
    from hybridrec.feature_store import open_store

    return open_store(settings)


def _sample_users(split: Split, n: int) -> list[str]:
    """Evaluation users with the most live events: their pages change the most."""
    live_users = split.live.column("user_id").to_pylist()
    counts = {t.user_id: live_users.count(t.user_id) for t in split.targets[:200]}
    return sorted(counts, key=lambda u: -counts[u])[:n] or [str(split.history.column("user_id")[0])]


def _print_page(
    client: RankerClient, user: str, time_ms: int, titles: dict[str, str], deadline_ms: float, when: str
) -> pb.HomepageResponse | None:
    resp, call = client.homepage(user, time_ms=time_ms, deadline_ms=deadline_ms)
    say(f"  user {user} {when} ({call.latency_ms:.0f} ms, model {call.model_version or '-'}):")
    if resp is None:
        say(f"    {call.error}")
        return None
    for line in render_homepage(resp, titles):
        say("  " + line)
    return resp


class Prober(threading.Thread):
    """Freshness probes: each probe is one produced event; every 100 ms one Feast read of all pending users
    resolves those whose ``last_event_ms`` reached the event (a probe gives up after ``timeout_s``)."""

    def __init__(self, settings: Settings, timeline: Timeline, timeout_s: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.settings, self.timeline, self.timeout_s = settings, timeline, timeout_s
        self.pending: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()
        self.finishing = threading.Event()
        self.lost = 0

    def add(self, user: str, event_ms: int, sent: float) -> None:
        with self.lock:
            self.pending.append((user, event_ms, sent))

    def run(self) -> None:
        store = _store(self.settings)
        while True:
            with self.lock:
                pending = list(self.pending)
            if not pending and self.finishing.is_set():
                return
            if pending:
                got = fresh_last_event(store, sorted({u for u, _, _ in pending}))
                now = time.monotonic()
                done = [p for p in pending if (got.get(p[0]) or 0) >= p[1] or now - p[2] > self.timeout_s]
                for user, event_ms, sent in done:
                    if (got.get(user) or 0) >= event_ms:
                        self.timeline.freshness.append((sent - self.timeline.t0, (now - sent) * 1000))
                    else:
                        self.lost += 1
                with self.lock:
                    self.pending = [p for p in self.pending if p not in done]
            time.sleep(0.1)


def _stream_live(
    settings: Settings,
    producer: Any,
    split: Split,
    opts: Options,
    timeline: Timeline,
    client: RankerClient,
    samples: list[str],
    titles: dict[str, str],
    job: services.Child,
) -> None:
    """Produce the live period at ``live_rate``; each second one event is a freshness probe (produce →
    visible through Feast), and every 15 s a sample user's page is printed."""
    chunk = max(1, int(opts.live_rate))
    prober = Prober(settings, timeline)
    prober.start()
    start = time.monotonic()
    last_page = start
    batches = split.live.to_batches(max_chunksize=chunk)
    for n, batch in enumerate(batches):
        job.check()
        sent = time.monotonic()
        producer.send_batch(batch)
        producer.flush()
        if n + 1 < len(batches):  # the last one waits for the clock below, not for the job
            prober.add(batch.column("user_id")[-1].as_py(), batch.column("event_time_ms")[-1].as_py(), sent)
        if time.monotonic() - last_page > 15 and samples:
            event_ms = batch.column("event_time_ms")[-1].as_py()
            _print_page(client, samples[n % len(samples)], event_ms, titles, opts.deadline_ms, "live")
            last_page = time.monotonic()
        ahead = (n + 1) * chunk / opts.live_rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    last_ms = int(split.live.column("event_time_ms")[-1].as_py()) if split.live.num_rows else split.split_ms
    send_clock(settings, last_ms + 60_000)
    say(f"  produced in {time.monotonic() - start:.0f} s; waiting for the last freshness probes")
    prober.finishing.set()
    prober.join()
    fr = percentiles([f for _, f in timeline.freshness])
    say(
        f"  freshness (produce → readable through Feast) p50 {fr['p50']:.0f} ms, p99 {fr['p99']:.0f} ms over "
        f"{len(timeline.freshness)} probes ({prober.lost} not visible within {prober.timeout_s:.0f} s)"
    )


def _burst(
    settings: Settings,
    producer: Any,
    client: RankerClient,
    store: Any,
    user: str,
    at_ms: int,
    items: list[Any],
    titles: dict[str, str],
    genres_of: dict[str, tuple[str, ...]],
    opts: Options,
) -> dict[str, Any]:
    """Five plays of one genre the user's page does not show, then the page again.

    The titles are ones the served model knows: only an item with a vector has neighbours to explain ("Because
    you watched X"); a title the last nightly run never saw seeds no row (docs/serving.md), and in a small
    world some titles never occur in the history at all."""
    before = _print_page(client, user, at_ms, titles, opts.deadline_ms, "before the burst")
    shown = {i.item_id for r in (before.rows if before else []) for i in r.items}
    shown_genres = {g for i in shown for g in genres_of.get(i, ())}
    known = _model_items(settings)
    candidates = [i for i in items if i.item_id not in shown and i.genres and (not known or i.item_id in known)]
    genre = next((g for i in candidates for g in i.genres if g not in shown_genres), candidates[0].genres[0])
    picked = [i for i in candidates if genre in i.genres][:5]
    rows = [
        {
            "event_id": f"burst-{at_ms}-{k}",
            "user_id": user,
            "item_id": i.item_id,
            "event_type": "PLAY",
            "value": 1800.0,
            "event_time_ms": at_ms + 30_000 * k,
            "surface": "demo/burst",
        }
        for k, i in enumerate(picked)
    ]
    producer.send_batch(archive_table(rows))
    producer.flush()
    last = rows[-1]["event_time_ms"]
    send_clock(settings, last + 60_000)
    services.wait_until(
        "the burst to reach the fresh features", lambda: (fresh_last_event(store, [user]).get(user) or 0) >= last, 120
    )
    say(f"  user {user} played {len(picked)} {genre} titles: {', '.join(titles[i.item_id] for i in picked)}")
    after = _print_page(client, user, last + 60_000, titles, opts.deadline_ms, "after the burst")
    return {
        "user": user,
        "genre": genre,
        "played": [titles[i.item_id] for i in picked],
        "before": page_rows(before, titles) if before else [],
        "after": page_rows(after, titles) if after else [],
    }


def _model_items(settings: Settings) -> set[str]:
    """Item ids of the promoted model (empty when none was promoted: then any title will do, no row can be
    explained anyway)."""
    from hybridrec.model_artifacts import ITEM_IDS
    from hybridrec.registry import ModelRegistry

    current = ModelRegistry(settings.paths.registry_root).current()
    return set(json.loads(current.artifact(ITEM_IDS).read_text())) if current is not None else set()


def _namespace(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", text):
        raise argparse.ArgumentTypeError(f"namespace must be 1-40 letters, digits or _, got {text!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", default="ml-latest-small", choices=["ml-100k", "ml-latest-small", "ml-1m", "synthetic"])
    p.add_argument("--path", help="dataset directory (default: datasets dir, earlier download, GroupLens)")
    p.add_argument("--events", type=int, default=Options.events, help="synthetic: number of events")
    p.add_argument("--eval-users", type=int, default=Options.eval_users)
    p.add_argument("--live-rate", type=float, default=Options.live_rate, help="events/s of the live period")
    p.add_argument("--workdir", type=Path, default=Options.workdir)
    p.add_argument(
        "--namespace",
        default=Options.namespace,
        type=_namespace,
        help="prefix of this run's topics and Feast project (letters, digits, _)",
    )
    args = p.parse_args(argv)
    opts = Options(
        dataset=args.dataset,
        path=args.path,
        events=args.events,
        eval_users=args.eval_users,
        live_rate=args.live_rate,
        workdir=args.workdir,
        namespace=args.namespace,
    )
    try:
        run(opts)
    except services.ServiceFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    return 0
