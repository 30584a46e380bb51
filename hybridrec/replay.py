"""Replaying a dataset into Kafka in event-time order, paced to a target rate.

Datasets hand over columnar batches (archive columns, time-ordered); the producer validates and encodes a
whole batch at once, which is what makes a Python replay keep up with the broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from hybridrec.kafka.producer import EventProducer

MAX_BATCH = 16_384


def batch_size_for(rate: float | None) -> int:
    """Batches small enough that pacing stays smooth (~20 per second at the target rate)."""
    if rate is None:
        return MAX_BATCH
    return int(min(MAX_BATCH, max(1, rate / 20)))


@dataclass
class ReplaySummary:
    dataset: str
    offered: int
    accepted: int
    dead_lettered: int
    dlq_reasons: dict[str, int]
    delivery_failures: int
    elapsed_s: float
    catalog_items: int = 0

    @property
    def rate(self) -> float:
        return self.offered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "events_per_s": round(self.rate)}

    def render(self) -> str:
        lines = [
            f"replayed {self.dataset}: {self.offered:,} events in {self.elapsed_s:.1f}s "
            f"({self.rate:,.0f} events/s, acks=all)",
            f"  delivered to interactions: {self.accepted:,}",
            f"  dead-lettered:             {self.dead_lettered:,}"
            + (f"  {self.dlq_reasons}" if self.dlq_reasons else ""),
            f"  delivery failures:         {self.delivery_failures:,}",
        ]
        if self.catalog_items:
            lines.append(f"  catalog items published:   {self.catalog_items:,}")
        return "\n".join(lines)


def _pace(offered: int, rate: float | None, start: float, clock: Callable[[], float],
          sleep: Callable[[float], None]) -> None:
    """Sleep until ``offered`` events are due at ``rate`` since ``start``."""
    if rate is not None:
        ahead = offered / rate - (clock() - start)
        if ahead > 0:
            sleep(ahead)


def replay(
    batches: Iterable[pa.RecordBatch], producer: EventProducer, *, dataset: str,
    rate: float | None = None, limit: int | None = None,
    on_progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Produce the batches' rows in order, at most ``rate`` per second (``None``: as fast as acks=all allows).

    Returns once every record is acknowledged (or raises ``DeliveryError``)."""
    start = clock()
    offered = 0
    for batch in batches:
        if limit is not None:
            if offered >= limit:
                break
            batch = batch.slice(0, limit - offered)
        producer.send_batch(batch)
        producer.poll()
        offered += batch.num_rows
        if on_progress is not None:
            on_progress(batch.num_rows)
        _pace(offered, rate, start, clock, sleep)
    producer.flush()
    stats = producer.stats
    return ReplaySummary(
        dataset=dataset, offered=offered, accepted=stats.accepted, dead_lettered=stats.dead_lettered,
        dlq_reasons=dict(stats.dlq_reasons), delivery_failures=stats.delivery_failures,
        elapsed_s=clock() - start,
    )
