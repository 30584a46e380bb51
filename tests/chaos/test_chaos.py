"""Chaos: under steady replay and ranker load, kill -9 one part at a time and restart it, then check against the
ground truth the loads recorded. Every row of the table must read 0 lost, 0 duplicated, 0 failed requests.

``test_kafka_redis_ranker_faults`` is the CI-sized subset (`make test`): the three-broker cluster, a Redis of its
own, two ranker processes, no Flink. The archive, feature and batch faults are in ``test_chaos_full.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from hybridrec.config import Settings
from hybridrec.feature_store import drop_online_rows
from tests.support import chaos_harness as harness
from tests.support import serving_env as env
from tests.support import serving_kit as kit
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(1200)]

EVENT_RATE = 200.0  # events/s of the replay load
PAGE_RATE = 20.0  # GetHomepage calls/s over the two rankers


def _settle(seconds: float) -> None:
    time.sleep(seconds)


def test_kafka_redis_ranker_faults(namespace: Settings, tmp_path: Path, table: list[harness.Row]) -> None:
    settings = namespace
    world = kit.world(n_users=200, n_items=300)
    now = int(time.time() * 1000)
    env.seed_features(settings, world, {u: kit.heavy_user(world, now_ms=now) for u in world.user_ids[:100]})
    env.publish_model(settings, world, tmp_path)
    logs = tmp_path / "logs"
    ports = [harness.free_port() for _ in range(4)]
    rankers = [harness.start_ranker(settings, f"ranker-{k}", ports[k], ports[k + 2], logs) for k in range(2)]
    events = testkit.make_world(30_000, n_users=300, n_items=200, seed=16).events
    faults = harness.FaultLog(f"{EVENT_RATE:.0f} events/s, {PAGE_RATE:.0f} pages/s over 2 rankers")
    event_load = pages = None
    rows: list[harness.Row] = []
    try:
        assert harness.topic_durability(settings) == {(3, "2")}, "topics: replication factor 3, min.insync 2"
        for r, port in zip(rankers, ports, strict=False):
            assert harness.wait_until(lambda port=port: harness.ranker_healthy(port), 240), r.tail()
        event_load = harness.EventLoad(settings, events, EVENT_RATE).start()
        pages = harness.PageLoad(ports[:2], world.user_ids, PAGE_RATE).start()
        _settle(5)

        harness.kill_broker(faults, settings, 180)
        harness.kill_redis(faults, settings, pages, 60)
        harness.kill_ranker(faults, rankers[0], ports[0], 240)

        pages.stop()
        summary = event_load.stop()
        assert summary.unacknowledged == 0 and summary.delivery_failures == 0, summary.render()
        sent_valid = set(event_load.offered[: summary.accepted])
        sent_poisoned = set(event_load.poisoned[: summary.dead_lettered])
        in_topic = harness.topic_event_ids(settings, settings.kafka.topics.interactions)
        in_dlq = harness.topic_event_ids(settings, settings.kafka.topics.dlq)
        topic_counts, dlq_counts = Counter(in_topic), Counter(in_dlq)
        for row, t0, t1, _ in faults.windows:
            valid, poisoned = event_load.offered_between(t0, t1)
            valid = [i for i in valid if i in sent_valid]
            poisoned = [i for i in poisoned if i in sent_poisoned]
            lost, dup = harness.exactly_once(valid, topic_counts)
            dlq_lost, dlq_dup = harness.exactly_once(poisoned, dlq_counts)
            row.lost, row.duplicated = lost + dlq_lost, dup + dlq_dup
            row.answered, row.failed, row.degraded, reasons = harness.summarize_answers(pages.between(t0, t1))
            row.notes.insert(0, f"{len(valid):,} events + {len(poisoned)} poison pills in the window")
            if reasons:
                row.notes.append("answers: " + ", ".join(f"{k} ×{v}" for k, v in reasons.most_common(4)))
            rows.append(row)
        table.extend(rows)

        # over the whole run, not only the fault windows
        lost, dup = harness.exactly_once(sorted(sent_valid), in_topic)
        assert (lost, dup) == (0, 0) and len(in_topic) == len(sent_valid), "interactions != input exactly once"
        assert harness.exactly_once(sorted(sent_poisoned), in_dlq) == (0, 0) and len(in_dlq) == len(sent_poisoned)
        answered, failed, _, reasons = harness.summarize_answers(pages.answers)
        assert failed == 0, (
            f"{failed} of {answered} GetHomepage calls failed: {reasons}; {harness.when_failed(pages.answers, faults)}"
        )
        for row in rows:
            assert row.recover_s is not None, f"{row.fault} did not recover"
    finally:
        harness.shutdown(pages, event_load, *rankers)
        drop_online_rows(settings)
