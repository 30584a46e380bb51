"""Replay pacing, limits and ordering (pure logic; the broker path is covered by the integration tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from hybridrec.contract import archive_table
from hybridrec.kafka.producer import ProducerStats
from hybridrec.replay import ReplayIncomplete, batch_size_for, replay


class _RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.stats = ProducerStats()
        self.drained = False

    def send_batch(self, batch: pa.RecordBatch) -> int:
        self.sent.extend(batch.column("event_id").to_pylist())
        self.stats.accepted += batch.num_rows
        return batch.num_rows

    def poll(self) -> None: ...

    def drain(self) -> int:
        self.drained = True
        return 0


class _FakeClock:
    """A clock that only moves when replay sleeps, so pacing is checked without real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batches(n: int, size: int) -> list[pa.RecordBatch]:
    rows = [
        {
            "event_id": f"e{i}",
            "user_id": f"u{i % 7}",
            "item_id": f"i{i}",
            "event_type": "PLAY",
            "value": 1.0,
            "event_time_ms": 1_000 + i,
        }
        for i in range(n)
    ]
    return archive_table(rows).to_batches(max_chunksize=size)


def test_replay_sends_in_order_respects_limit_and_flushes() -> None:
    producer = _RecordingProducer()
    summary = replay(_batches(5000, 700), producer, dataset="t", limit=3000)  # type: ignore[arg-type]
    assert producer.sent == [f"e{i}" for i in range(3000)]
    assert producer.drained and summary.offered == summary.accepted == 3000


def test_rate_limit_paces_by_sleeping() -> None:
    clock = _FakeClock()
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        # Injected, not patched into the time module: a patched time.sleep also caught other threads' sleeps
        # (a leftover background thread of an earlier test spun on it in CI and recorded 1.5M one-second naps).
        slept.append(seconds)
        clock.now += seconds

    producer = _RecordingProducer()
    batches = _batches(10_000, batch_size_for(1000.0))
    summary = replay(
        batches,
        producer,
        dataset="t",
        rate=1000.0,
        clock=clock,  # type: ignore[arg-type]
        sleep=fake_sleep,
    )
    assert abs(sum(slept) - 10.0) < 1e-9, "10,000 events at 1,000/s must take 10 s"
    assert len(slept) == 200, "pacing happens per batch of rate/20 events"
    assert abs(summary.rate - 1000.0) < 1e-6


def test_batch_size_follows_rate() -> None:
    assert batch_size_for(None) == 16_384
    assert batch_size_for(100.0) == 5
    assert batch_size_for(0.5) == 1


def test_a_stop_request_ends_the_replay_between_batches_after_draining() -> None:
    producer = _RecordingProducer()
    asks: list[int] = []

    def stop() -> str | None:
        asks.append(len(producer.sent))
        return "SIGTERM" if len(producer.sent) >= 1400 else None

    summary = replay(_batches(5000, 700), producer, dataset="t", stop=stop)  # type: ignore[arg-type]
    assert producer.sent == [f"e{i}" for i in range(1400)] and producer.drained
    assert summary.stopped_by == "SIGTERM" and not summary.complete
    assert summary.offered == summary.acknowledged == 1400
    assert asks == [0, 700, 1400]


def test_an_error_reading_the_data_still_drains_and_reports() -> None:
    producer = _RecordingProducer()

    def failing() -> Iterator[pa.RecordBatch]:
        yield from _batches(1000, 500)
        raise OSError("ratings.csv: unexpected end of data")

    with pytest.raises(ReplayIncomplete) as caught:
        replay(failing(), producer, dataset="t")  # type: ignore[arg-type]
    summary = caught.value.summary
    assert producer.drained and summary.acknowledged == summary.offered == 1000
    assert summary.stopped_by == "error: OSError: ratings.csv: unexpected end of data"
    assert isinstance(caught.value.__cause__, OSError)
    assert "STOPPED" in str(caught.value)


def test_records_without_a_verdict_make_the_replay_incomplete() -> None:
    producer = _RecordingProducer()
    producer.drain = lambda: 42  # type: ignore[method-assign]
    with pytest.raises(ReplayIncomplete, match=r"UNACKNOWLEDGED: +42"):
        replay(_batches(100, 50), producer, dataset="t")  # type: ignore[arg-type]
