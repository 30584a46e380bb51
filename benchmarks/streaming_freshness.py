"""Speed-layer freshness: a steady live load (event time = now) and the time from producing an event to its
feature being readable in Feast's Redis online store.

A probe is an event of a user seen only once; its ``user_fresh`` row becomes readable when the Redis hash
Feast reads (same key and fields, see ``streaming.feast_writer.hash_layout``) holds it. The reader polls
every pending probe with one pipelined HGET per round, and at the end checks a sample of probes through
``get_online_features``. Freshness is bounded below by the watermark delay plus the micro window (the windows
fire on the watermark) plus the write interval, so those are options here (the live profile).

    .venv/bin/python benchmarks/streaming_freshness.py --rate 5000 --duration 60 \\
        --max-out-of-orderness-ms 200 --micro-window-ms 200 --write-interval-ms 100
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Producer

from hybridrec.config import get_settings
from hybridrec.contract import USER_FRESH_VIEW
from hybridrec.kafka.producer import producer_config
from hybridrec.kafka.topics import ensure_topics
from hybridrec_pb.events_pb2 import EventType, InteractionEvent
from streaming.config import StreamingSettings
from tests.support import streaming_kit as testkit

TYPES = [EventType.PLAY, EventType.CLICK, EventType.IMPRESSION, EventType.ADD_TO_LIST]


class LoadProducer(threading.Thread):
    """``rate`` events/s with event time = now; every ``probe_every``-th event is a probe (a fresh user)."""

    def __init__(self, settings: StreamingSettings, rate: int, users: int, items: int, probe_every: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.rate, self.users, self.items = settings, rate, users, items
        self.probe_every = probe_every
        self.probes: dict[str, float] = {}   # probe user → produce wall time (s)
        self.lock = threading.Lock()
        self.sent = 0
        self.started = self.stopped = time.time()
        self.stop = threading.Event()

    def run(self) -> None:
        producer = Producer({**producer_config(self.settings.kafka), "linger.ms": 5})
        topic = self.settings.kafka.topics.interactions
        rng = random.Random(3)
        start = time.monotonic()
        self.started = time.time()
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while self.sent < due:
                n = self.sent
                probe = n % self.probe_every == 0
                user = f"probe-{n}" if probe else f"u{rng.randrange(self.users)}"
                now = time.time()
                e = InteractionEvent(event_id=f"f{n}", user_id=user, item_id=f"i{rng.randrange(self.items)}",
                                     event_type=EventType.CLICK if probe else rng.choice(TYPES),
                                     event_time_ms=int(now * 1000), position=-1)
                producer.produce(topic, e.SerializeToString(), user.encode())
                if probe:
                    with self.lock:
                        self.probes[user] = now
                self.sent += 1
            producer.poll(0)
            time.sleep(0.002)
        self.stopped = time.time()
        producer.flush(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5_000, help="events per second")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds, after --warmup")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--probes-per-s", type=int, default=20)
    parser.add_argument("--max-out-of-orderness-ms", type=int, default=200)
    parser.add_argument("--micro-window-ms", type=int, default=200)
    parser.add_argument("--write-interval-ms", type=int, default=100)
    parser.add_argument("--idle-timeout-ms", type=int, default=0,
                        help="source idleness (0: never; the load keeps every partition busy). With a short one, a "
                             "partition whose backlog waits through start-up is marked idle and its events turn late")
    parser.add_argument("--parallelism", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stream-fresh-"))
    settings = testkit.isolated_streaming_settings(
        get_settings(), workdir, bounded=False, parallelism=args.parallelism, checkpoint_interval_ms=5_000,
        max_out_of_orderness_ms=args.max_out_of_orderness_ms, micro_window_ms=args.micro_window_ms,
        write_interval_ms=args.write_interval_ms, source_idle_timeout_ms=args.idle_timeout_ms)
    testkit.build_jar()
    ensure_topics(settings.kafka)
    job = None
    try:
        testkit.publish_catalog(settings, {f"i{k}": testkit.GENRE_SETS[k % 5] for k in range(args.items)})
        job = testkit.JobProcess(settings, workdir)
        from hybridrec.feature_store import apply_definitions, open_store
        from streaming.feast_writer import hash_layout

        apply_definitions(settings)
        store = open_store(settings)
        layout = hash_layout(store.get_feature_view(USER_FRESH_VIEW), store.config)
        client = store._get_provider().online_store._get_client(store.config.online_store)

        # Wait for the job to write a probe (start-up is not part of freshness) while the load runs.
        load = LoadProducer(settings, args.rate, args.users, args.items, max(1, args.rate // args.probes_per_s))
        load.start()
        deadline = time.monotonic() + 600
        while True:
            with load.lock:
                first = list(load.probes)[:50]
            if any(client.exists(layout.redis_key(u)) for u in first):
                break
            if job.proc.poll() is not None:
                raise RuntimeError(job.tail())
            if time.monotonic() > deadline:
                raise RuntimeError("no probe readable after 600 s")
            time.sleep(0.5)
        t_measure = time.time() + args.warmup
        t_end = t_measure + args.duration
        latencies: list[float] = []
        seen: set[str] = set()
        while time.time() < t_end + 10:
            with load.lock:
                pending = [(u, t) for u, t in load.probes.items() if u not in seen and t <= t_end]
            if pending:
                with client.pipeline(transaction=False) as pipe:
                    for user, _ in pending:
                        pipe.hget(layout.redis_key(user), layout.ts_field)
                    found = pipe.execute()
                now = time.time()
                for (user, produced), hit in zip(pending, found, strict=True):
                    if hit is not None:
                        seen.add(user)
                        if t_measure <= produced <= t_end:
                            latencies.append(now - produced)
            time.sleep(0.01)
        # The load runs on past t_end: with no new events the watermark would stop, and the last windows with it.
        load.stop.set()
        measured = [t for u, t in load.probes.items() if t_measure <= t <= t_end]
        sample = sorted(seen)[-20:]
        got = store.get_online_features(features=[f"{USER_FRESH_VIEW}:last_event_ms"],
                                        entity_rows=[{"user_id": u} for u in sample]).to_dict()
        assert all(v is not None for v in got["last_event_ms"]), "a probe found in Redis is not readable via Feast"
        q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
        print(json.dumps({
            "rate": args.rate, "produced_per_s": round(load.sent / (load.stopped - load.started)),
            "parallelism": args.parallelism, "max_out_of_orderness_ms": args.max_out_of_orderness_ms,
            "micro_window_ms": args.micro_window_ms, "write_interval_ms": args.write_interval_ms,
            "probes": len(measured), "probes_seen": len(latencies),
            # None: no probe of the measured window became readable before the run ended (the job fell behind).
            "p50_ms": round(q[49] * 1000) if latencies else None, "p99_ms": round(q[98] * 1000) if latencies else None,
            "max_ms": round(max(latencies) * 1000) if latencies else None,
        }))
    finally:
        if job is not None:
            job.kill()
        testkit.discard(settings)
        shutil.rmtree(workdir, ignore_errors=True)  # the job's checkpoints and archive: 100+ MB a run


if __name__ == "__main__":
    main()
