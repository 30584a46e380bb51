"""One unbounded job through real Kafka, Flink and Redis with the shipped freshness settings, through everything
that happens to a live deployment, in order:

1. a lone event after a quiet stretch and a user sending one event a second are readable through Feast within 5 s
   (the 1 s goal is the benchmark's, ``benchmarks/streaming_freshness.py``);
2. Redis is killed under load and restarted: the job neither fails nor stops archiving, and no feature is lost;
3. the job is killed with SIGKILL mid-stream and started again *without* naming a checkpoint: it continues from
   its newest one (a user's hidden item stays hidden when the user's next event arrives);
4. a planned stop (SIGTERM: stop with a savepoint), events while it is down, a plain start again: it continues
   from the savepoint.
At the end the features read through Feast equal the reference and the archive holds every event once. Three job
starts, hence its own time limit."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hybridrec.config import Settings, get_settings, with_section
from hybridrec.fresh_spec import HashLayout
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import ensure_topics
from hybridrec_pb.events_pb2 import InteractionEvent
from streaming.config import StreamingSettings
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]
FRESH_S = 5.0


def _readable_after(
    settings: StreamingSettings, producer: EventProducer, layout: HashLayout, event: InteractionEvent, deadline_s: float
) -> float:
    """Produce ``event`` (acknowledged by the broker), then seconds until its user's row in Redis carries it."""
    import redis
    from feast.protos.feast.types.Value_pb2 import Value

    client = redis.Redis(host=settings.redis.host, port=settings.redis.port)
    field = next(h for name, _, h in layout.fields if name == "last_event_ms")
    start = time.monotonic()
    assert producer.send(event)
    producer.flush()
    try:
        while time.monotonic() - start < deadline_s:
            raw = client.hget(layout.redis_key(event.user_id), field)
            if raw is not None and Value.FromString(raw).int64_val >= event.event_time_ms:
                return time.monotonic() - start
            time.sleep(0.02)
        return float("inf")
    finally:
        client.close()


def _feed(settings: StreamingSettings, events: list[InteractionEvent], per_s: float) -> threading.Thread:
    def run() -> None:
        producer = EventProducer(settings.kafka, settings.validation)
        for n, e in enumerate(events):
            producer.send(e)
            if n % 10 == 9:
                producer.flush()
                time.sleep(10 / per_s)
        producer.flush()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _restored_from(job: testkit.JobProcess) -> str:
    found = re.search(r"^(restoring from \S+|starting with empty state)$", job.log.read_text(), re.M)
    return found.group(1) if found else ""


def _completed_checkpoints(settings: StreamingSettings) -> set[Path]:
    from streaming.job import checkpoints_dir

    return {m.parent for m in checkpoints_dir(settings).glob("*/chk-*/_metadata")}


def test_freshness_redis_restart_kill_and_savepoint(services: Settings, tmp_path: Path) -> None:
    testkit.build_jar()
    redis_server = testkit.RedisServer(tmp_path / "redis")
    base = get_settings()
    settings = testkit.isolated_streaming_settings(
        with_section(base, "redis", port=redis_server.port),
        tmp_path,
        bounded=False,
    )
    ensure_topics(settings.kafka)
    world = testkit.make_world(1_500, disorder_ms=1_500, seed=11)
    first, rest, tail = world.events[:500], world.events[500:1_000], world.events[1_000:]
    user_layout, _ = testkit.fresh_layouts(settings)
    live: list[InteractionEvent] = []
    jobs: list[testkit.JobProcess] = []
    try:
        testkit.publish_catalog(settings, world.genres)
        testkit.produce(settings, first)
        job = testkit.JobProcess(settings, tmp_path / "run1")
        jobs.append(job)
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows >= len(first), 600), job.tail()
        assert _restored_from(job) == "starting with empty state"

        # 1. Freshness with the shipped settings: a lone HIDE after a quiet stretch, then one event a second.
        producer = EventProducer(settings.kafka, settings.validation)  # warm, as a homepage backend keeps one
        time.sleep(10)
        hide = testkit.now_event("fresh-h", "i3", "HIDE", event_id="fresh-h-0")
        live.append(hide)
        took = _readable_after(settings, producer, user_layout, hide, 60)
        assert took <= FRESH_S, f"lone event readable after {took:.2f} s"
        steady = []
        for n in range(8):
            e = testkit.now_event("fresh-s", f"i{n}", "PLAY", event_id=f"fresh-s-{n}")
            live.append(e)
            steady.append(_readable_after(settings, producer, user_layout, e, 60))
            time.sleep(max(0.0, 1.0 - steady[-1]))
        assert max(steady) <= FRESH_S, f"1 event/s readable after {steady}"
        print(f"readable after: lone {took:.3f} s, 1 event/s {', '.join(f'{x:.3f}' for x in steady)} s")

        # 2. Redis killed under load and back: the job keeps running and archiving, nothing is lost.
        before_load = testkit.read_archive(settings).num_rows
        feeder = _feed(settings, rest, per_s=40)
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows > before_load, 120), job.tail()
        redis_server.stop()
        archived_at_outage = testkit.read_archive(settings).num_rows
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows > archived_at_outage, 120), (
            "the archive stalled without Redis"
        )
        assert job.proc.poll() is None, job.tail()
        redis_server.start()
        feeder.join()

        # 3. SIGKILL mid-stream, then a plain start: it restores its newest checkpoint by itself.
        more = [*tail[:250], testkit.now_event("fresh-h", "i4", "PLAY", event_id="fresh-h-1")]
        live.append(more[-1])
        before_kill = testkit.read_archive(settings).num_rows
        feeder = _feed(settings, more, per_s=60)
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows > before_kill, 120), job.tail()
        job.kill()
        killed_with = testkit.read_archive(settings).num_rows
        feeder.join()
        job = testkit.JobProcess(settings, tmp_path / "run2")
        jobs.append(job)
        done_so_far = len(first) + len(rest) + len(more) + len(live) - 1
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows >= done_so_far, 600), job.tail()
        assert _restored_from(job).startswith("restoring from ") and "chk-" in _restored_from(job), job.tail()

        # 4. Planned stop with a savepoint, the rest of the stream while it is down, a plain start again.
        job.proc.send_signal(signal.SIGTERM)
        assert job.wait(180) == 0, job.tail()
        assert re.search(r"^savepoint: (\S+)$", job.log.read_text(), re.M), job.tail()
        testkit.produce(settings, tail[250:])
        # One event per partition a few minutes ahead (within the allowed clock skew): every partition's watermark
        # moves there, so the trending windows of every item are where the reference puts them at that watermark.
        sentinel_ms = int(time.time() * 1000) + 240_000
        sentinels = testkit.produce_sentinels(settings, sentinel_ms)
        watermark_ms = sentinel_ms - settings.streaming.max_out_of_orderness_ms
        job = testkit.JobProcess(settings, tmp_path / "run3")
        jobs.append(job)
        assert testkit.wait_for(lambda: "savepoints" in _restored_from(job), 120), job.tail()

        expected_ids = {e.event_id for e in [*world.events, *live, *sentinels]}
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows >= len(expected_ids), 600), job.tail()
        pairs = testkit.World([*first, hide, *live[1:9], *rest, *more, *tail[250:]], world.genres).pairs()

        def mismatches() -> dict[str, list[str]]:
            return testkit.feature_mismatches(settings, pairs, world.genre_lookup, watermark_ms=watermark_ms)

        testkit.wait_for(lambda: not mismatches(), 180)
        assert mismatches() == {}
        users, _ = testkit.read_features(settings, ["fresh-h"], [])
        assert users["fresh-h"]["hidden_items"] == ["i3"]  # kept through the kill and the savepoint
        assert users["fresh-h"]["recent_items"] == ["i4"]

        # One more completed checkpoint: a duplicate (a replayed, re-committed file) would show up now.
        completed = _completed_checkpoints(settings)
        assert testkit.wait_for(lambda: bool(_completed_checkpoints(settings) - completed), 120), job.tail()
        ids = testkit.read_archive(settings).column("event_id").to_pylist()
        assert Counter(ids).most_common(1)[0][1] == 1, "an event was archived twice"
        assert set(ids) == expected_ids
        assert 0 < killed_with < len(expected_ids), "the kill did not happen mid-stream"
    finally:
        for j in jobs:
            j.kill()
        redis_server.stop()
        testkit.discard(settings, rows=False)
