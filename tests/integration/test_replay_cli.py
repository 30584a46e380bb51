"""`hybridrec replay` end to end through the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from hybridrec.config import Settings
from hybridrec_pb.events_pb2 import CatalogItem, InteractionEvent
from tests.helpers import consume

pytestmark = pytest.mark.integration

ML100K = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ml-100k"


def _cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    t = settings.kafka.topics
    return {
        **os.environ,
        "HYBRIDREC_KAFKA__TOPICS__INTERACTIONS": t.interactions,
        "HYBRIDREC_KAFKA__TOPICS__DLQ": t.dlq,
        "HYBRIDREC_KAFKA__TOPICS__IMPRESSIONS": t.impressions,
        "HYBRIDREC_KAFKA__TOPICS__CATALOG": t.catalog,
        "HYBRIDREC_PATHS__DATA_DIR": str(tmp_path / "data"),
    }


def _replay(args: list[str], env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "hybridrec.cli", "replay", "--quiet", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not (ML100K / "u.data").exists(), reason="ML-100K is not beside the checkout (shared/)")
def test_ml100k_replay_delivers_every_rating_in_per_user_time_order(isolated: Settings, tmp_path: Path) -> None:
    summary = _replay(["--dataset", "ml-100k", "--path", str(ML100K)], _cli_env(isolated, tmp_path))
    assert summary["offered"] == summary["accepted"] == 100_000
    assert summary["dead_lettered"] == 0 and summary["delivery_failures"] == 0
    assert summary["catalog_items"] == 1_682

    records = consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.interactions, 100_000, 120)
    assert len(records) == 100_000
    times: dict[str, list[int]] = defaultdict(list)
    ids = set()
    for msg in records:
        event = InteractionEvent.FromString(msg.value())
        times[event.user_id].append(event.event_time_ms)
        ids.add(event.event_id)
    assert len(ids) == 100_000 and len(times) == 943
    assert all(t == sorted(t) for t in times.values()), "a user's events arrived out of event-time order"

    catalog = consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.catalog, 1_682)
    titles = {m.key().decode(): CatalogItem.FromString(m.value()).title for m in catalog}
    assert len(titles) == 1_682 and titles["1"].startswith("Toy Story")
    assert (tmp_path / "data" / "lake" / "catalog" / "items.parquet").exists()


def test_synthetic_replay_at_a_fixed_rate(isolated: Settings, tmp_path: Path) -> None:
    summary = _replay(
        ["--dataset", "synthetic", "--events", "3000", "--rate", "2000", "--seed", "7"], _cli_env(isolated, tmp_path)
    )
    assert summary["offered"] == summary["accepted"] == 3000
    assert summary["elapsed_s"] >= 1.4, "3,000 events at 2,000/s cannot finish in under 1.5 s"
    records = consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.interactions, 3000)
    assert len(records) == 3000


def test_missing_dataset_says_what_to_do(isolated: Settings, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hybridrec.cli", "replay", "--dataset", "ml-1m", "--path", str(tmp_path / "nowhere")],
        env=_cli_env(isolated, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and str(tmp_path / "nowhere") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unfindable_dataset_falls_back_to_synthetic_and_says_so(isolated: Settings, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing behind it: the download fails at once
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    env = {
        **_cli_env(isolated, tmp_path),
        "HYBRIDREC_PATHS__DATASETS_DIR": str(tmp_path / "none"),
        "HYBRIDREC_PATHS__DATASETS_URL": f"http://127.0.0.1:{dead}/movielens",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridrec.cli",
            "replay",
            "--dataset",
            "ml-latest-small",
            "--fallback-synthetic",
            "--events",
            "500",
            "--quiet",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "running on SYNTHETIC data" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["dataset"] == "synthetic" and summary["accepted"] == 500

    without = subprocess.run(
        [sys.executable, "-m", "hybridrec.cli", "replay", "--dataset", "ml-latest-small"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert without.returncode == 2 and "download failed" in without.stderr


def _high_watermark(settings: Settings, topic: str) -> int:
    """Records in ``topic`` (0 while its partitions' leaders are still being elected)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "watermarks"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    except KafkaException:
        return 0
    finally:
        consumer.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_replay_between_batches_with_nothing_lost(
    isolated: Settings, tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C or a supervisor's SIGTERM mid-replay: the replay stops, waits for the broker's verdict on what it
    queued, prints the summary and exits 128 + signal; the topic holds exactly the first ``accepted`` events of
    the dataset, each once. (Before: a KeyboardInterrupt traceback or a silent death, the queue dropped.)"""
    from hybridrec.datasets import load_dataset

    args = ["--dataset", "synthetic", "--events", "2000000", "--rate", "20000", "--seed", "7"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridrec.cli", "replay", "--quiet", "--json", *args],
        env=_cli_env(isolated, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _high_watermark(isolated, isolated.kafka.topics.interactions) < 20_000 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped_by"] == sig.name and summary["unacknowledged"] == 0
    assert summary["delivery_failures"] == 0 and summary["dead_lettered"] == 0
    n = summary["accepted"]
    assert 20_000 <= n < 2_000_000 and summary["acknowledged"] == summary["offered"] == n

    records = consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.interactions, n, 120)
    got = [InteractionEvent.FromString(m.value()).event_id for m in records]
    dataset = load_dataset("synthetic", None, isolated, n_events=2_000_000, seed=7)
    first: list[str] = []
    for batch in dataset.batches(50_000):
        first.extend(batch.column("event_id").to_pylist()[: n - len(first)])
        if len(first) >= n:
            break
    assert len(got) == len(set(got)) == n and set(got) == set(first), "not exactly the dataset's first events"
