"""Replaying a dataset into Kafka in event-time order, paced to a target rate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hybridrec.datasets.model import Interaction
from hybridrec.kafka.producer import EventProducer
from hybridrec_pb.events_pb2 import Device, EventType, InteractionEvent

_EVENT_TYPE = {name: EventType.Value(name) for name in EventType.keys()}
_DEVICE = {name: Device.Value(name) for name in Device.keys()}
_PACE_EVERY = 512


def to_event(i: Interaction) -> InteractionEvent:
    return InteractionEvent(
        event_id=i.event_id, user_id=i.user_id, item_id=i.item_id, event_type=_EVENT_TYPE[i.event_type],
        value=i.value, event_time_ms=i.event_time_ms, surface=i.surface, position=i.position,
        device=_DEVICE[i.device], country=i.country,
    )


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


def replay(
    interactions: Iterable[Interaction], producer: EventProducer, *, dataset: str,
    rate: float | None = None, limit: int | None = None,
    on_progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.perf_counter,
) -> ReplaySummary:
    """Produce ``interactions`` in order, at most ``rate`` per second (``None``: as fast as acks=all allows).

    Pacing is checked every few hundred events against the ideal schedule, so the long-run rate is exact
    without a sleep per event. Returns once every record is acknowledged (or raises ``DeliveryError``).
    """
    start = clock()
    offered = 0
    send, poll = producer.send, producer.poll
    for interaction in interactions:
        if limit is not None and offered >= limit:
            break
        send(to_event(interaction))
        offered += 1
        if offered % _PACE_EVERY == 0:
            poll()
            if on_progress is not None:
                on_progress(_PACE_EVERY)
            if rate is not None:
                ahead = offered / rate - (clock() - start)
                if ahead > 0:
                    time.sleep(ahead)
    if on_progress is not None:
        on_progress(offered % _PACE_EVERY)
    producer.flush()
    stats = producer.stats
    return ReplaySummary(
        dataset=dataset, offered=offered, accepted=stats.accepted, dead_lettered=stats.dead_lettered,
        dlq_reasons=dict(stats.dlq_reasons), delivery_failures=stats.delivery_failures,
        elapsed_s=clock() - start,
    )
