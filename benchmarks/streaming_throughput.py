"""Speed-layer throughput: a backlog of events in Kafka, the job run bounded over it, throughput measured from
the consumer group's committed offsets (committed on every checkpoint), so JVM and Python start-up do not
count. Also samples Flink's ``busyTimeMsPerSecond`` of every job vertex from the MiniCluster's REST API: the
profile that says which operator limits the rate.

    .venv/bin/python benchmarks/streaming_throughput.py --events 200000 --parallelism 1
    .venv/bin/python benchmarks/streaming_throughput.py --dataset ml-latest-small \
        --path ../shared/datasets/ml-latest-small
    .venv/bin/python benchmarks/streaming_throughput.py --dataset synthetic --events 1000000

Datasets: ``world`` (the tests' generator: 10k users, 5k items, dense event time), ``synthetic`` (hybridrec's
seeded synthetic world) or a MovieLens name (replayed in event-time order, original timestamps).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from hybridrec.config import get_settings
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import ensure_topics
from streaming.config import StreamingConfig, StreamingSettings
from tests.support import streaming_kit as testkit


def committed(settings: StreamingSettings, consumer: Consumer) -> int:
    topic = settings.kafka.topics.interactions
    parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
    return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) of every process in the job's process group: the client and its JVM. Events
    per CPU second hardly depend on how many other jobs share the machine, unlike events per wall second."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


class BusySampler(threading.Thread):
    """Average ``busyTimeMsPerSecond`` (max over subtasks) per vertex while the job runs."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.base = f"http://127.0.0.1:{port}"
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(2.0):
            try:
                jobs = [j["id"] for j in _get(f"{self.base}/jobs")["jobs"] if j["status"] == "RUNNING"]
                for job in jobs:
                    for v in _get(f"{self.base}/jobs/{job}")["vertices"]:
                        got = _get(
                            f"{self.base}/jobs/{job}/vertices/{v['id']}/subtasks/metrics?get=busyTimeMsPerSecond"
                        )
                        if got and got[0].get("max") is not None:
                            self.samples[v["name"][:90]].append(float(got[0]["max"]))
            except (OSError, ValueError, KeyError):
                continue

    def profile(self) -> dict[str, float]:
        return {
            name: round(sum(v) / len(v)) for name, v in sorted(self.samples.items(), key=lambda kv: -max(kv[1])) if v
        }


def produce(settings: StreamingSettings, args: argparse.Namespace) -> int:
    """Fill the isolated topic (and catalog); returns the number of valid events."""
    if args.dataset == "world":
        world = testkit.make_world(
            args.events, n_users=args.users, n_items=args.items, step_ms=args.step_ms, disorder_ms=500
        )
        testkit.publish_catalog(settings, world.genres)
        producer = EventProducer(settings.kafka, settings.validation)
        for e in world.events:
            producer.send(e)
        producer.flush()
        return len(world.events)
    from hybridrec import catalog
    from hybridrec.datasets import load_dataset
    from hybridrec.replay import replay

    dataset = load_dataset(args.dataset, args.path, settings, n_events=args.events)
    catalog.publish(dataset.items(), settings.kafka, settings.paths.lake_dir)
    producer = EventProducer(settings.kafka, settings.validation, component="bench")
    summary = replay(
        dataset.batches(50_000),
        producer,
        dataset=dataset.name,
        limit=args.events if args.dataset != "synthetic" else None,
    )
    return summary.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="world", help="world | synthetic | a MovieLens name")
    parser.add_argument("--path", help="directory of the MovieLens files")
    parser.add_argument("--events", type=int, default=200_000, help="events (world, synthetic); limit otherwise")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--step-ms", type=int, default=20, help="world: mean event-time gap between events x 2")
    parser.add_argument(
        "--flush-interval-ms", type=int, default=StreamingConfig().flush_interval_ms, help="default: the job's"
    )
    parser.add_argument(
        "--checkpoint-interval-ms",
        type=int,
        default=StreamingConfig().checkpoint_interval_ms,
        help="default: the job's (each checkpoint snapshots all window state: at 1 s the "
        "snapshots took a fifth of the job's CPU)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    from tests.helpers import free_port

    rest_port = free_port()
    settings = testkit.isolated_streaming_settings(
        get_settings(),
        workdir,
        parallelism=args.parallelism,
        checkpoint_interval_ms=args.checkpoint_interval_ms,
        flush_interval_ms=args.flush_interval_ms,
        rest_port=rest_port,
    )
    testkit.build_jar()
    ensure_topics(settings.kafka)
    try:
        t0 = time.monotonic()
        n_events = produce(settings, args)
        produce_s = time.monotonic() - t0

        consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka.bootstrap_servers,
                "group.id": settings.streaming.group_id,
                "enable.auto.commit": False,
            }
        )
        job = testkit.JobProcess(settings, workdir)
        sampler = BusySampler(rest_port)
        sampler.start()
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        cpu: dict[int, float] = {}  # committed offset → job CPU seconds when first seen
        try:
            while job.proc.poll() is None and time.monotonic() - started < 3600:
                samples.append((time.monotonic(), committed(settings, consumer)))
                cpu.setdefault(samples[-1][1], group_cpu_s(job.proc.pid))
                time.sleep(0.5)
            rc = job.wait(60)
        finally:
            sampler.stop.set()
            job.kill()
        samples.append((time.monotonic(), committed(settings, consumer)))
        consumer.close()
        moving = [(t, n) for t, n in samples if n > 0]
        first_t, first_n = moving[0]
        last_t, last_n = next((t, n) for t, n in moving if n == moving[-1][1])
        rate = (last_n - first_n) / (last_t - first_t) if last_t > first_t else float("nan")
        cpu_s = cpu.get(last_n, float("nan")) - cpu.get(first_n, float("nan"))
        archived = testkit.read_archive(settings).num_rows
        print(
            json.dumps(
                {
                    "dataset": args.dataset,
                    "events": n_events,
                    "parallelism": args.parallelism,
                    "flush_interval_ms": settings.streaming.flush_interval_ms,
                    "checkpoint_interval_ms": settings.streaming.checkpoint_interval_ms,
                    "exit_code": rc,
                    "archived": archived,
                    "produce_events_per_s": round(n_events / produce_s),
                    "job_wall_s": round(samples[-1][0] - started, 1),
                    "first_commit_after_s": round(first_t - started, 1),
                    "events_per_s": round(rate),
                    "measured_events": last_n - first_n,
                    "job_cpu_s": round(cpu_s, 1),
                    "events_per_cpu_s": round((last_n - first_n) / cpu_s) if cpu_s > 0 else None,
                    "busy_ms_per_s": sampler.profile(),
                }
            )
        )
    finally:
        testkit.discard(settings)
        shutil.rmtree(workdir, ignore_errors=True)  # the job's checkpoints and archive: 100+ MB a run


if __name__ == "__main__":
    main()
