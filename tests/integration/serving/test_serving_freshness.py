"""The lambda loop's fast path end to end: an event produced to Kafka goes through the PyFlink job into Redis
and changes the ranker's next answer within 2 s (issue #6), for an engagement (a "Because you watched" row)
and for a HIDE (the item leaves the page).

The job runs live on isolated topics with its shipped settings and no other traffic: every event is folded in on
arrival and written within a flush interval, whatever the rest of the topic does. One slow test: the job's start-up
dominates it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hybridrec.config import Settings, get_settings
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import ensure_topics
from hybridrec_pb import ranker_pb2 as pb
from serving.config import ServingSettings
from serving.server import start
from tests.support import serving_env as env
from tests.support import serving_kit as kit
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FRESHNESS_S = 2.0  # the bound: produce → changed response


def _send(producer: EventProducer, user: str, item: str, event_type: str) -> None:
    """One event through a warm validating producer (as a homepage backend keeps one), acknowledged by the
    broker, stamped when sent (a producer created per event spends its first round trips getting an idempotence
    id, which would count as freshness)."""
    assert producer.send(testkit.now_event(user, item, event_type))
    producer.flush()


async def _until(
    ranker: object, user: str, done: object, since: float, timeout_s: float = 30.0
) -> tuple[pb.HomepageResponse, float]:
    """Poll GetHomepage until ``done(page)``: the page and the seconds since ``since`` (inf: never)."""
    page = pb.HomepageResponse()
    while time.monotonic() - since < timeout_s:
        page = await ranker.GetHomepage(  # type: ignore[attr-defined]
            pb.HomepageRequest(user_id=user, n_rows=5, items_per_row=10, context=pb.RequestContext(device=2)), timeout=2
        )
        if done(page):  # type: ignore[operator]
            return page, time.monotonic() - since
        await asyncio.sleep(0.05)
    return page, float("inf")


@pytest.mark.timeout(1200)  # the job's start-up alone took minutes on the loaded shared machine
def test_an_event_in_kafka_changes_the_next_response_within_2s(services: Settings, tmp_path: Path) -> None:
    testkit.build_jar()
    stream = testkit.isolated_streaming_settings(get_settings(), tmp_path / "stream", bounded=False)
    ensure_topics(stream.kafka)
    world = kit.world(n_users=30, n_items=150)
    # The ranker reads the job's Feast project; items and the model are the batch layer's part.
    base = env.serving_settings(stream, tmp_path, log_impressions=False, exploration_rate=0.0, registry_poll_s=0.5)
    settings = ServingSettings(**{**base.model_dump(exclude={"feast"}), "feast": stream.feast.model_dump()})
    env.seed_features(settings, world, {})
    env.publish_model(settings, world, tmp_path)
    testkit.publish_catalog(stream, dict(world.item_genres))
    job = testkit.JobProcess(stream, tmp_path / "job")
    producer = EventProducer(stream.kafka, stream.validation)
    _send(producer, "warm-up", "i1", "IMPRESSION")
    try:
        # Live once the warm-up event is in Redis (start-up: JVM and planner, minutes on a loaded machine).
        def warm() -> bool:
            users, _ = testkit.read_features(stream, ["warm-up"], [])
            return users["warm-up"]["last_event_ms"] is not None

        assert testkit.wait_for(warm, 900, every_s=1.0), job.tail()

        async def scenario() -> dict[str, object]:
            running = await start(settings, catalog=world.catalog(), load_catalog=False)
            channel, ranker = env.stub(running.port)
            try:
                first, _ = await _until(ranker, "u1", lambda p: bool(p.model_version), time.monotonic())
                assert not any(r.type == pb.BECAUSE_YOU_WATCHED for r in first.rows), "u1 has no history yet"
                t0 = time.monotonic()  # clocks start before producing
                await asyncio.to_thread(_send, producer, "u1", "i7", "PLAY")
                watched, took_play = await _until(
                    ranker, "u1", lambda p: any(r.title == "Because you watched Title i7" for r in p.rows), t0
                )
                if took_play == float("inf"):
                    return {"play_s": took_play, "hide_s": took_play, "watched": watched, "victim": ""}
                victim = next(i.item_id for r in watched.rows if r.type == pb.FOR_YOU for i in r.items)
                t0 = time.monotonic()
                await asyncio.to_thread(_send, producer, "u1", victim, "HIDE")
                hidden, took_hide = await _until(
                    ranker, "u1", lambda p: victim not in {i.item_id for r in p.rows for i in r.items}, t0
                )
                return {
                    "play_s": took_play,
                    "hide_s": took_hide,
                    "watched": watched,
                    "hidden": hidden,
                    "victim": victim,
                }
            finally:
                await channel.close()
                await running.stop(1.0)

        got = asyncio.run(scenario())
        users, _ = testkit.read_features(stream, ["u1"], ["i7"])
        seen = f"u1 in Redis now: {testkit.dump(users['u1'])}\nrows: {[r.title for r in got['watched'].rows]}"
        print(f"freshness: PLAY → 'Because you watched' row {got['play_s']:.2f} s, HIDE → gone {got['hide_s']:.2f} s")
        assert got["play_s"] <= FRESHNESS_S, f"PLAY took {got['play_s']:.2f} s to the response\n{seen}\n{job.tail()}"
        assert got["hide_s"] <= FRESHNESS_S, f"HIDE of {got['victim']} took {got['hide_s']:.2f} s\n{seen}"
    finally:
        job.kill()
        testkit.discard(stream)
