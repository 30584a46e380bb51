"""Producing a period of events through Kafka into the running Flink job, and telling when it has arrived.

The history goes in at full speed and is drained (consumed and archived); the live period is produced up to
a position at a time, flushed, then followed by *clock events*: one IMPRESSION per partition at the pause's
time, so every partition's event-time watermark moves there and the job fires every window before it (a live
stream does this by itself; a paused replay needs the nudge). The producer is always flushed before a clock
event is sent, so a clock event never overtakes a live event still in the producer's buffer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from evaluation import services
from hybridrec.config import Settings

LIVE_PROFILE = {
    "HYBRIDREC_STREAMING__MAX_OUT_OF_ORDERNESS_MS": "0",
    "HYBRIDREC_STREAMING__FLUSH_INTERVAL_MS": "10",
    "HYBRIDREC_STREAMING__FLINK_OPTIONS": '{"pipeline.auto-watermark-interval": "50 ms"}',
}
"""Speed-layer knobs of a paused replay. User features are folded on arrival and written after
``flush_interval_ms`` whatever the profile (the shipped 100 ms); 10 ms shortens each of the ~2,000 pauses. Only
the trending windows wait on the event-time watermark: a replay produces each partition in time order, so no
out-of-orderness is needed, and watermarks every 50 ms (Flink's default is 200 ms) let a clock event at the pause
close the windows before it sooner. The replay waits on the user's features reflecting the expected events,
whatever the profile."""


@dataclass
class Timeline:
    """What a run plots: ingest counters over time and freshness (produce → readable through Feast)."""

    t0: float = field(default_factory=time.monotonic)
    ingest: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, produced, consumed, archived
    freshness: list[tuple[float, float]] = field(default_factory=list)  # t, produce → readable ms

    def now(self) -> float:
        return time.monotonic() - self.t0


class Clock:
    """Clock events: one IMPRESSION per partition at a time, from users ``__clock-<partition>``."""

    def __init__(self, settings: Settings) -> None:
        from confluent_kafka import Producer

        self.settings = settings
        self._producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 0})
        self.sent = 0
        self._last_ms: int | None = None

    def tick(self, at_ms: int) -> int:
        """Move every partition's watermark to ``at_ms``; returns the events sent (acknowledged). A time not after
        the last tick sends nothing: the watermark is there already, and a second event with the same id would be
        a duplicate in the archive (a pause can fall on the history's last tick)."""
        from hybridrec_pb.events_pb2 import EventType, InteractionEvent

        if self._last_ms is not None and at_ms <= self._last_ms:
            return 0
        self._last_ms = at_ms

        n = self.settings.kafka.topics.partitions
        for part in range(n):
            user = f"__clock-{part}"
            e = InteractionEvent(
                event_id=f"clock-{at_ms}-{part}",
                user_id=user,
                item_id="__clock",
                event_type=EventType.IMPRESSION,
                event_time_ms=at_ms,
                position=-1,
            )
            self._producer.produce(
                self.settings.kafka.topics.interactions, e.SerializeToString(), user.encode(), partition=part
            )
        if self._producer.flush(30):
            raise services.ServiceFailed("clock events were not delivered")
        self.sent += n
        return n


class Sampler(threading.Thread):
    """Every 2 s: events produced, consumed by the job (committed offsets) and archived."""

    def __init__(self, settings: Settings, group: str, timeline: Timeline, say: Callable[[str], None]) -> None:
        super().__init__(daemon=True)
        self.settings, self.group, self.timeline, self.say = settings, group, timeline, say
        self.stop_event = threading.Event()
        self.last: tuple[int, int, int] = (0, 0, 0)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                consumed, end = services.consumed(self.settings, self.group)
                self.last = (end, consumed, services.archived(self.settings))
                self.timeline.ingest.append((self.timeline.now(), *self.last))
            except FileNotFoundError:
                pass  # the nightly batch compacted archive files away mid-read; the next sample reads the new ones
            except Exception as exc:  # a sample lost is fine; the waits check the real condition
                self.say(f"  (sampler: {exc})")
            self.stop_event.wait(2.0)


def drain(
    sampler: Sampler, job: services.Child, produced: int, archived: int, timeout_s: float, say: Callable[[str], None]
) -> None:
    """Wait until the job has consumed everything and archived ``archived`` events; print progress when it
    moves (the counters advance on checkpoints)."""
    shown: list[tuple[int, int, int]] = [(-1, -1, -1)]

    def done() -> bool:
        end, consumed, arch = sampler.last
        if (consumed, arch) != shown[0][1:]:
            if consumed == 0 and arch == 0:
                say("  waiting for the job's first checkpoint (JVM and planner start up)")
            else:
                say(
                    f"  flink: consumed {consumed:,}/{produced:,}, archived {arch:,}/{archived:,} "
                    f"({_rate(sampler.timeline.ingest):,.0f} events/s)"
                )
            shown[0] = (end, consumed, arch)
        return end >= produced and consumed >= end and arch >= archived

    services.wait_until("the Flink job to consume and archive the stream", done, timeout_s, [job])


def _rate(ingest: list[tuple[float, int, int, int]], span_s: float = 20.0) -> float:
    """Consumption rate over the last ``span_s`` of samples."""
    if len(ingest) < 2:
        return 0.0
    t1, _, c1, _ = ingest[-1]
    t0, _, c0, _ = next((s for s in ingest if s[0] >= t1 - span_s), ingest[0])
    return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class Period:
    """A time-ordered table produced forwards, up to a position at a time, each step flushed."""

    def __init__(self, producer: object, table: pa.Table, chunk: int = 16_384) -> None:
        self.producer, self.table, self.chunk = producer, table, chunk
        self.position = 0

    def advance(self, position: int) -> int:
        """Produce rows ``[self.position, position)`` and wait for their acknowledgement; returns how many."""
        position = min(position, self.table.num_rows)
        n = position - self.position
        if n <= 0:
            return 0
        for batch in self.table.slice(self.position, n).to_batches(max_chunksize=self.chunk):
            self.producer.send_batch(batch)  # type: ignore[attr-defined]
        self.producer.flush()  # type: ignore[attr-defined]
        self.position = position
        return n
