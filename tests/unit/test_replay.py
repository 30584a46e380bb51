"""Replay pacing, limits and ordering (pure logic; the broker path is covered by the integration tests)."""

from __future__ import annotations

import pyarrow as pa

from hybridrec.contract import archive_table
from hybridrec.kafka.producer import ProducerStats
from hybridrec.replay import batch_size_for, replay


class _RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.stats = ProducerStats()
        self.flushed = False

    def send_batch(self, batch: pa.RecordBatch) -> int:
        self.sent.extend(batch.column("event_id").to_pylist())
        self.stats.accepted += batch.num_rows
        return batch.num_rows

    def poll(self) -> None: ...

    def flush(self) -> None:
        self.flushed = True


class _FakeClock:
    """A clock that only moves when replay sleeps, so pacing is checked without real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batches(n: int, size: int) -> list[pa.RecordBatch]:
    rows = [{"event_id": f"e{i}", "user_id": f"u{i % 7}", "item_id": f"i{i}", "event_type": "PLAY",
             "value": 1.0, "event_time_ms": 1_000 + i} for i in range(n)]
    return archive_table(rows).to_batches(max_chunksize=size)


def test_replay_sends_in_order_respects_limit_and_flushes() -> None:
    producer = _RecordingProducer()
    summary = replay(_batches(5000, 700), producer, dataset="t", limit=3000)  # type: ignore[arg-type]
    assert producer.sent == [f"e{i}" for i in range(3000)]
    assert producer.flushed and summary.offered == summary.accepted == 3000


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
    summary = replay(batches, producer, dataset="t", rate=1000.0, clock=clock,  # type: ignore[arg-type]
                     sleep=fake_sleep)
    assert abs(sum(slept) - 10.0) < 1e-9, "10,000 events at 1,000/s must take 10 s"
    assert len(slept) == 200, "pacing happens per batch of rate/20 events"
    assert abs(summary.rate - 1000.0) < 1e-6


def test_batch_size_follows_rate() -> None:
    assert batch_size_for(None) == 16_384
    assert batch_size_for(100.0) == 5
    assert batch_size_for(0.5) == 1
