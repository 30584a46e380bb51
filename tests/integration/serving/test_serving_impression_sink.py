"""The impression log leaves the request's path: queued by ``publish``, built and produced by the loop's next
iteration, all queued pages at once, in order, through the real broker (isolated topics)."""

from __future__ import annotations

import asyncio

import pytest

from hybridrec.config import Settings
from hybridrec_pb.events_pb2 import ImpressionLog
from serving.domain import Context, Page, Row, RowKind, Slot
from serving.metrics import Metrics
from serving.sink.kafka import KafkaImpressionSink
from tests.helpers import consume

pytestmark = pytest.mark.integration


def _page(k: int) -> Page:
    row = Row("popular", RowKind.POPULAR, "Popular", "popular", [Slot(f"i{k}", 0.5, "popular", k == 1, 0.9)])
    return Page(f"req-{k}", [row], "v1", "control", [], True, user_id="u1")


def test_logs_are_produced_after_the_request_in_one_batch(isolated: Settings) -> None:
    metrics = Metrics()
    sink = KafkaImpressionSink(isolated.kafka, metrics)
    counter = metrics.impressions.labels(outcome="queued")
    before = counter._value.get()  # the process-wide counter: earlier tests' servers count in it too

    def _queued() -> float:
        return counter._value.get() - before

    async def serve_three() -> tuple[float, float]:
        for k in range(3):
            sink.publish(_page(k), Context("TV", "DE", 0))
        during = _queued()  # what the requests paid: nothing built or produced yet
        await asyncio.sleep(0)  # the loop's next iteration
        return during, _queued()

    during, after = asyncio.run(serve_three())
    sink.publish(_page(3), Context("TV", "DE", 0))  # no running loop: produced at once
    assert (during, after, _queued()) == (0.0, 3.0, 4.0)

    async def publish_and_stop() -> None:
        sink.publish(_page(4), Context("TV", "DE", 0))
        asyncio.get_running_loop().stop()  # the loop ends before the drain it scheduled runs

    ended = asyncio.new_event_loop()
    ended.run_until_complete(publish_and_stop())
    ended.close()
    assert _queued() == 4.0
    asyncio.run(serve_three())  # a later loop drains what the ended one left too: 4 + 1 + 3
    assert _queued() == 8.0
    sink.close(10.0)
    logs = [
        ImpressionLog.FromString(m.value())
        for m in consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.impressions, expected=8, timeout_s=30)
    ]
    by_request = sorted(logs, key=lambda x: x.request_id)
    assert [x.request_id for x in by_request] == [
        "req-0",
        "req-0",
        "req-1",
        "req-1",
        "req-2",
        "req-2",
        "req-3",
        "req-4",
    ]
    assert [s.explored for x in by_request for s in x.slots] == [False, False, True, True] + [False] * 4
