"""Replaying a dataset into Kafka in event-time order, paced to a target rate.

Datasets hand over columnar batches (archive columns, time-ordered); the producer validates and encodes a
whole batch at once, which is what makes a Python replay keep up with the broker.

However a replay ends — at the end of the data, on a stop request (SIGINT/SIGTERM, polled between batches) or
on an error — it waits for the broker's verdict on every record it queued and reports the counts, so nothing
is dropped without a word.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from hybridrec.kafka.producer import DeliveryError, EventProducer

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
    failure_reasons: dict[str, int] = field(default_factory=dict)
    unacknowledged: int = 0  # still without the broker's verdict when the wait for it ended
    stopped_by: str | None = None  # "SIGINT", "SIGTERM" or "error: ..." when the replay ended early

    @property
    def rate(self) -> float:
        return self.offered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def acknowledged(self) -> int:
        """Records the broker took, valid and dead-lettered."""
        return self.accepted + self.dead_lettered - self.delivery_failures - self.unacknowledged

    @property
    def complete(self) -> bool:
        return self.stopped_by is None and not self.delivery_failures and not self.unacknowledged

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "events_per_s": round(self.rate), "acknowledged": self.acknowledged}

    def render(self) -> str:
        how = "replayed" if self.stopped_by is None else f"replay STOPPED ({self.stopped_by}) after"
        lines = [
            f"{how} {self.dataset}: {self.offered:,} events in {self.elapsed_s:.1f}s "
            f"({self.rate:,.0f} events/s, acks=all)",
            f"  delivered to interactions: {self.accepted:,}",
            f"  dead-lettered:             {self.dead_lettered:,}"
            + (f"  {self.dlq_reasons}" if self.dlq_reasons else ""),
            f"  delivery failures:         {self.delivery_failures:,}"
            + (f"  {self.failure_reasons}" if self.failure_reasons else ""),
            f"  acknowledged by Kafka:     {self.acknowledged:,}",
        ]
        if self.unacknowledged:
            lines.append(f"  UNACKNOWLEDGED:            {self.unacknowledged:,} (may or may not have been written)")
        if self.catalog_items:
            lines.append(f"  catalog items published:   {self.catalog_items:,}")
        return "\n".join(lines)


def _pace(
    offered: int, rate: float | None, start: float, clock: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    """Sleep until ``offered`` events are due at ``rate`` since ``start``."""
    if rate is not None:
        ahead = offered / rate - (clock() - start)
        if ahead > 0:
            sleep(ahead)


class ReplayIncomplete(DeliveryError):
    """A replay ended with records not acknowledged, or on an error; ``summary`` says exactly what was delivered."""

    def __init__(self, summary: ReplaySummary) -> None:
        super().__init__(summary.render())
        self.summary = summary


def replay(
    batches: Iterable[pa.RecordBatch],
    producer: EventProducer,
    *,
    dataset: str,
    rate: float | None = None,
    limit: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], str | None] | None = None,
) -> ReplaySummary:
    """Produce the batches' rows in order, at most ``rate`` per second (``None``: as fast as acks=all allows).

    ``stop`` is asked before every batch; when it returns a reason (e.g. ``"SIGTERM"``) the replay ends there.
    Returns once every queued record has its verdict and all were acknowledged; otherwise, or when reading or
    producing failed, raises :class:`ReplayIncomplete` (after the same wait) with the counts."""
    start = clock()
    offered = 0
    stopped_by: str | None = None
    failure: Exception | None = None
    try:
        for batch in batches:
            if stop is not None and (stopped_by := stop()) is not None:
                break
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
    except Exception as exc:  # reading or producing failed: deliver what is queued, then say so
        failure, stopped_by = exc, f"error: {type(exc).__name__}: {exc}"
    unacknowledged = producer.drain()
    stats = producer.stats
    summary = ReplaySummary(
        dataset=dataset,
        offered=max(offered, stats.accepted + stats.dead_lettered),
        accepted=stats.accepted,
        dead_lettered=stats.dead_lettered,
        dlq_reasons=dict(stats.dlq_reasons),
        delivery_failures=stats.delivery_failures,
        failure_reasons=dict(stats.failure_reasons),
        elapsed_s=clock() - start,
        unacknowledged=unacknowledged,
        stopped_by=stopped_by,
    )
    if failure is not None:
        raise ReplayIncomplete(summary) from failure
    if summary.delivery_failures or summary.unacknowledged:
        raise ReplayIncomplete(summary)
    return summary
