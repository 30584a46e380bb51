"""Speed-layer throughput: a backlog of synthetic events in Kafka, the job run bounded over it, throughput
measured from the consumer group's committed offsets (committed on every checkpoint), so JVM and Python
start-up do not count.

    .venv/bin/python benchmarks/streaming_throughput.py --events 200000 --parallelism 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from hybridrec.config import get_settings
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import delete_topics, ensure_topics, topic_specs
from streaming import testkit
from streaming.config import StreamingSettings


def committed(settings: StreamingSettings, consumer: Consumer) -> int:
    topic = settings.kafka.topics.interactions
    parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
    return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--step-ms", type=int, default=20, help="mean event-time gap between events / 2")
    parser.add_argument("--write-interval-ms", type=int, default=2_000)
    parser.add_argument("--execution-mode", default="thread")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    settings = testkit.isolated_streaming_settings(
        get_settings(), workdir, parallelism=args.parallelism, checkpoint_interval_ms=1_000,
        write_interval_ms=args.write_interval_ms, execution_mode=args.execution_mode)
    testkit.build_udf()
    ensure_topics(settings.kafka)
    try:
        world = testkit.make_world(args.events, n_users=args.users, n_items=args.items, step_ms=args.step_ms,
                                   disorder_ms=500)
        testkit.publish_catalog(settings, world.genres)
        t0 = time.monotonic()
        producer = EventProducer(settings.kafka, settings.validation)
        for e in world.events:
            producer.send(e)
        producer.flush()
        produce_s = time.monotonic() - t0

        consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers,
                             "group.id": settings.streaming.group_id, "enable.auto.commit": False})
        job = testkit.JobProcess(settings, workdir)
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        try:
            while job.proc.poll() is None and time.monotonic() - started < 1800:
                samples.append((time.monotonic(), committed(settings, consumer)))
                time.sleep(0.5)
            rc = job.wait(60)
        finally:
            job.kill()
        samples.append((time.monotonic(), committed(settings, consumer)))
        consumer.close()
        moving = [(t, n) for t, n in samples if n > 0]
        first_t, first_n = moving[0]
        last_t, last_n = next((t, n) for t, n in moving if n == moving[-1][1])
        rate = (last_n - first_n) / (last_t - first_t) if last_t > first_t else float("nan")
        archived = testkit.read_archive(settings).num_rows
        print(json.dumps({
            "events": args.events, "parallelism": args.parallelism, "execution_mode": args.execution_mode,
            "exit_code": rc, "archived": archived, "produce_events_per_s": round(args.events / produce_s),
            "job_wall_s": round(samples[-1][0] - started, 1), "first_commit_after_s": round(first_t - started, 1),
            "events_per_s": round(rate), "measured_events": last_n - first_n,
        }))
    finally:
        delete_topics(settings.kafka, [s.name for s in topic_specs(settings.kafka)])


if __name__ == "__main__":
    main()
