"""A load generator in its own process: ``rate`` interaction events/s of random users into Kafka, some of them
probes, each probe reported to the parent (user, produce time, event time, item) on one stdout line.

Why a process of its own: a site's events come from other hosts. Run as a thread of the measuring process, the
generator's ~5k protobuf encodes and produce calls per second shared the poller's interpreter (its GIL), so the
poll calls, their callbacks and their time stamps waited behind it. The child imports only the Kafka client and
the event proto, so it starts in well under a second.

    LoadProcess(producer_config, topic, rate, ProbeRule("probe-", every=250), on_probe).start()  # parent side
    python -m benchmarks.event_load '<json spec>'                                              # what it runs
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Producer

from hybridrec_pb.events_pb2 import EventType, InteractionEvent

TYPES = [EventType.PLAY, EventType.CLICK, EventType.IMPRESSION, EventType.ADD_TO_LIST]


@dataclass(frozen=True)
class ProbeRule:
    """Which of the generator's events are probes: event ``n`` is one when ``n % every == 0``; its user is
    ``prefix`` + ``n`` (or + ``n % cycle``, to come back to the same ``cycle`` users)."""

    prefix: str
    every: int = 1
    cycle: int = 0

    def user(self, n: int) -> str | None:
        if n % self.every:
            return None
        return f"{self.prefix}{n % self.cycle if self.cycle else n}"


@dataclass(frozen=True)
class Probe:
    user: str
    produced: float  # wall clock (time.time()) when the event was handed to the producer
    event_ms: int
    item: str

    def line(self) -> str:
        return f"P\t{self.user}\t{self.produced!r}\t{self.event_ms}\t{self.item}\n"

    @staticmethod
    def parse(line: str) -> Probe:
        _, user, produced, event_ms, item = line.rstrip("\n").split("\t")
        return Probe(user, float(produced), int(event_ms), item)


def event(n: int, user: str, item: str, etype: int) -> tuple[InteractionEvent, float]:
    """Event ``n`` stamped now (event time = produce time), and that wall-clock time."""
    now = time.time()
    return InteractionEvent(
        event_id=f"f{n}", user_id=user, item_id=item, event_type=etype, event_time_ms=int(now * 1000), position=-1
    ), now


def pinned(user: str, partitions: list[int]) -> int:
    """A fixed partition per user among ``partitions`` (records name their partition; the job reads any)."""
    return partitions[zlib.crc32(user.encode()) % len(partitions)]


def probe_item(n: int, items: int) -> str:
    """A probe's item differs from its user's previous probes' (the homepage tells them apart)."""
    return f"i{n % items}"


def generate(spec: dict[str, Any], report: Callable[[Probe], None], stop: threading.Event) -> tuple[int, float]:
    """Produce ``spec['rate']`` events/s until ``stop``; report every probe; the number of events produced and
    the seconds it took (the flush of the last ones included)."""
    producer = Producer({**spec["producer"], "linger.ms": 5})
    topic, rate, items, partitions = spec["topic"], float(spec["rate"]), int(spec["items"]), spec["partitions"]
    rule = ProbeRule(**spec["rule"])
    users = [f"u{k}" for k in range(int(spec["users"]))]
    rng = random.Random(spec.get("seed", 3))
    sent = 0
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            probe_user = rule.user(sent)
            user = probe_user or rng.choice(users)
            item = probe_item(sent, items) if probe_user else f"i{rng.randrange(items)}"
            e, now = event(sent, user, item, EventType.CLICK if probe_user else rng.choice(TYPES))
            if partitions:
                producer.produce(topic, e.SerializeToString(), user.encode(), partition=pinned(user, partitions))
            else:
                producer.produce(topic, e.SerializeToString(), user.encode())
            if probe_user:
                report(Probe(user, now, e.event_time_ms, item))
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(30)
    return sent, time.monotonic() - start


class LoadProcess:
    """The parent's handle: starts ``python -m benchmarks.event_load``, hands each reported probe to ``on_probe``
    (from a reader thread), stops it by closing its stdin (so it also stops when the parent dies)."""

    def __init__(
        self,
        producer: dict[str, Any],
        topic: str,
        rate: float,
        rule: ProbeRule,
        on_probe: Callable[[Probe], None],
        partitions: list[int] | None = None,
        users: int = 10_000,
        items: int = 5_000,
    ) -> None:
        self.spec = {
            "producer": producer,
            "topic": topic,
            "rate": rate,
            "rule": asdict(rule),
            "partitions": partitions or [],
            "users": users,
            "items": items,
        }
        self.on_probe = on_probe
        self.sent = 0
        self.seconds = 0.0
        self._ready = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout_s: float = 60.0) -> LoadProcess:
        """Start the child and wait until it produces."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.event_load", json.dumps(self.spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"the load generator did not start within {timeout_s:.0f} s")
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            kind = line[:1]
            if kind == "P":
                self.on_probe(Probe.parse(line))
            elif kind == "R":
                self._ready.set()
            elif kind == "S":
                _, sent, seconds = line.split("\t")
                self.sent, self.seconds = int(sent), float(seconds)

    def stop(self, timeout_s: float = 60.0) -> float:
        """Stop producing (the child flushes its queue first); the events per second it produced."""
        if self._proc is None:
            return 0.0
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        rc = self._proc.wait(timeout_s)
        if self._reader is not None:
            self._reader.join(timeout_s)
        if rc != 0:
            raise RuntimeError(f"the load generator exited with {rc}")
        return self.sent / self.seconds if self.seconds else 0.0


def main() -> None:
    spec = json.loads(sys.argv[1])
    stop = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    out = sys.stdout

    def report(p: Probe) -> None:
        out.write(p.line())
        out.flush()

    out.write("R\n")
    out.flush()
    sent, seconds = generate(spec, report, stop)
    out.write(f"S\t{sent}\t{seconds!r}\n")
    out.flush()


if __name__ == "__main__":
    main()
