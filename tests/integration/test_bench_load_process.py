"""The freshness benchmark's load generator in its own process, through the real broker: every event it says it
produced is in the topic, on the partitions it was given, and every probe it reports is one of them."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from benchmarks.event_load import LoadProcess, Probe, ProbeRule, pinned
from hybridrec.config import Settings
from hybridrec.kafka.producer import producer_config
from hybridrec_pb.events_pb2 import EventType, InteractionEvent

pytestmark = pytest.mark.integration


def test_load_process_produces_at_rate_and_reports_its_probes(isolated: Settings) -> None:
    kafka = isolated.kafka
    probes: list[Probe] = []
    lock = threading.Lock()

    def add(p: Probe) -> None:
        with lock:
            probes.append(p)

    load = LoadProcess(
        producer_config(kafka), kafka.topics.interactions, 400, ProbeRule("p-", every=40), add, partitions=[1, 3]
    ).start()
    time.sleep(2.0)
    rate = load.stop()
    assert 200 <= rate <= 440, rate  # paced to the rate (the last flush is inside the time)
    assert load.sent >= 400

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": "t", "enable.auto.commit": False})
    parts = [TopicPartition(kafka.topics.interactions, p, 0) for p in range(kafka.topics.partitions)]
    consumer.assign(parts)
    records = []
    deadline = time.monotonic() + 30
    while len(records) < load.sent and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            records.append((m.partition(), InteractionEvent.FromString(m.value())))
    consumer.close()
    assert len(records) == load.sent
    assert {p for p, _ in records} == {1, 3}
    assert all(p == pinned(e.user_id, [1, 3]) for p, e in records)

    by_user = {e.user_id: e for _, e in records if e.user_id.startswith("p-")}
    assert len(probes) == len(by_user) == len(range(0, load.sent, 40))
    for p in probes:
        e = by_user[p.user]
        assert (e.item_id, e.event_time_ms, e.event_type) == (p.item, p.event_ms, EventType.CLICK)
        assert abs(p.produced * 1000 - p.event_ms) < 1
