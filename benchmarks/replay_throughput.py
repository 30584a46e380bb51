"""Replay throughput into the real broker (acks=all), side by side with Kafka's own producer perf tool.

Both write to the same fresh topic with the same producer settings (acks=all, idempotence, linger, batch,
compression) and the same record size, so the ratio isolates what hybridrec's Python path costs:
dataset iteration, protobuf encoding, edge validation and the confluent-kafka client.

    .venv/bin/python benchmarks/replay_throughput.py [--events 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hybridrec.config import KafkaConfig, TopicsConfig, get_settings
from hybridrec.kafka.topics import delete_topics, ensure_topics, topic_specs

ROOT = Path(__file__).resolve().parent.parent


def _bench_kafka(tag: str) -> KafkaConfig:
    base = get_settings().kafka
    topics = TopicsConfig(
        interactions=f"bench-{tag}.interactions",
        dlq=f"bench-{tag}.dlq",
        impressions=f"bench-{tag}.impressions",
        catalog=f"bench-{tag}.catalog",
        partitions=base.topics.partitions,
    )
    return base.model_copy(update={"topics": topics})


def run_replay(kafka: KafkaConfig, dataset: list[str]) -> dict[str, float]:
    t = kafka.topics
    env = {
        "HYBRIDREC_KAFKA__TOPICS__INTERACTIONS": t.interactions,
        "HYBRIDREC_KAFKA__TOPICS__DLQ": t.dlq,
        "HYBRIDREC_KAFKA__TOPICS__CATALOG": t.catalog,
        "HYBRIDREC_KAFKA__TOPICS__IMPRESSIONS": t.impressions,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridrec.cli",
            "replay",
            *dataset,
            "--rate",
            "max",
            "--quiet",
            "--json",
            "--no-catalog",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"replay failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"events": summary["offered"], "events_per_s": summary["offered"] / summary["elapsed_s"]}


def run_perf_tool(kafka: KafkaConfig, records: int, record_size: int) -> dict[str, float]:
    settings = get_settings()
    p = kafka.producer
    libs = settings.paths.deps_dir / "kafka" / "libs"
    cmd = [
        "java",
        "-Xmx1g",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        kafka.topics.interactions,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={kafka.bootstrap_servers}",
        "acks=all",
        "enable.idempotence=true",
        f"linger.ms={p.linger_ms}",
        f"batch.size={p.batch_size}",
        f"compression.type={p.compression_type}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ProducerPerformance failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    out = proc.stdout
    final = [line for line in out.splitlines() if "records sent" in line][-1]
    rate = float(re.search(r"([\d.]+) records/sec", final).group(1))  # type: ignore[union-attr]
    return {"events": records, "events_per_s": rate}


def mean_record_size(events: int) -> int:
    """Average serialized size of the synthetic events the replay sends, for a like-for-like tool run."""
    import pyarrow.compute as pc

    from hybridrec import columnar
    from hybridrec.datasets import SyntheticDataset

    batch = next(SyntheticDataset(get_settings().synthetic, n_events=events).batches(20_000))
    return round(pc.mean(pc.binary_length(columnar.encode(batch))).as_py())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    size = mean_record_size(args.events)
    results: dict[str, list[float]] = {"replay_synthetic": [], "perf_tool": [], "replay_ml_latest_small": []}
    ml_small = get_settings().paths.datasets_dir / "ml-latest-small"
    for run in range(args.runs):
        kafka = _bench_kafka(f"{int(time.time())}-{run}")
        ensure_topics(kafka)
        try:
            # Alternate the order so neither side always gets the warmer broker.
            first_tool = run % 2 == 1
            if first_tool:
                results["perf_tool"].append(run_perf_tool(kafka, args.events, size)["events_per_s"])
            results["replay_synthetic"].append(
                run_replay(kafka, ["--dataset", "synthetic", "--events", str(args.events)])["events_per_s"]
            )
            if not first_tool:
                results["perf_tool"].append(run_perf_tool(kafka, args.events, size)["events_per_s"])
            if (ml_small / "ratings.csv").exists():
                results["replay_ml_latest_small"].append(
                    run_replay(kafka, ["--dataset", "ml-latest-small", "--path", str(ml_small)])["events_per_s"]
                )
        finally:
            delete_topics(kafka, [s.name for s in topic_specs(kafka)])

    print(
        f"record size {size} B, {args.events:,} events per run, {args.runs} runs, acks=all, "
        f"idempotent, linger.ms/batch/compression as configured"
    )
    for name, rates in results.items():
        if rates:
            print(
                f"{name:26s} median {statistics.median(rates):>10,.0f} ev/s  "
                f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
            )
    ratios = [r / t for r, t in zip(results["replay_synthetic"], results["perf_tool"], strict=True)]
    print(
        f"replay / perf-tool ratio    median {statistics.median(ratios):.2f} (per run: "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(json.dumps({"record_size": size, **{k: v for k, v in results.items()}, "ratios": ratios}))


if __name__ == "__main__":
    main()
