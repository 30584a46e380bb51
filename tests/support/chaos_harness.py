"""The chaos suite's parts: real services that are killed with SIGKILL like crashed hosts and restarted, steady
loads that record their ground truth, the checks run after each fault, and the table of results.

Everything runs in a namespace of its own: unique topics on the three-broker cluster of `make kafka-cluster`, a
redis-server of its own (the suite kills it), a Feast project, lake, registry and checkpoints under a work
directory. Child processes get the namespace as ``HYBRIDREC_<SECTION>`` JSON variables.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from hybridrec.config import PROJECT_ROOT, FeastConfig, Settings, with_section
from hybridrec.contract import archive_table
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import delete_topics, ensure_topics, topic_specs
from hybridrec.replay import ReplayIncomplete, ReplaySummary, replay
from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb import ranker_pb2_grpc
from hybridrec_pb.events_pb2 import EventType, InteractionEvent
from tests.helpers import free_port, load_local_services
from tests.support.streaming_kit import with_topics_named

local_services = load_local_services()

# Sections of the shared settings a child process needs to share the namespace.
_SECTIONS = ("kafka", "redis", "paths", "feast", "validation", "synthetic")  # the same world in every child


def wait_until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> float | None:
    """Seconds until ``predicate`` held, or None when it did not within ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(every_s)
    return None


# --- the namespace ----------------------------------------------------------------------------------------


def chaos_settings(base: Settings, workdir: Path) -> Settings:
    """Settings of one chaos run: the local cluster with unique topics, a Redis on a free port (see
    :func:`redis_service`), an own Feast project, lake and registry under ``workdir``."""
    tag = uuid.uuid4().hex[:8]
    cluster = with_topics_named(base.kafka.on_local_cluster(), f"chaos{tag}")
    settings = with_section(base, "paths", data_dir=workdir / "data", registry_dir=workdir / "data" / "registry")
    settings = with_section(settings, "redis", port=free_port())
    return settings.model_copy(
        update={
            "kafka": cluster,
            "feast": FeastConfig(project=f"chaos{tag}", registry_path=workdir / "feast" / "registry.db"),
        }
    )


def child_env(settings: Settings, **sections: dict[str, Any]) -> dict[str, str]:
    """The environment of a child process in the namespace: each shared section as JSON, plus deployable
    sections (``serving={...}``, ``streaming={...}``); other HYBRIDREC_* variables of this process dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDREC_") or k == "HYBRIDREC_CONFIG"}
    for name in _SECTIONS:
        env[f"HYBRIDREC_{name.upper()}"] = getattr(settings, name).model_dump_json()
    for name, values in sections.items():
        env[f"HYBRIDREC_{name.upper()}"] = json.dumps(values, default=str)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cluster_nodes(settings: Settings) -> list[Any]:
    return local_services.kafka_cluster(settings)


def start_cluster(settings: Settings) -> None:
    """`make kafka-cluster` (idempotent), then the namespace's topics with the cluster's replication."""
    local_services.up_together(cluster_nodes(settings))
    ensure_topics(settings.kafka)


def discard_topics(settings: Settings) -> None:
    delete_topics(settings.kafka, [s.name for s in topic_specs(settings.kafka)])


def under_replicated(settings: Settings) -> int:
    """Partitions of the namespace's topics whose in-sync replicas are fewer than their replicas."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
    names = {s.name for s in topic_specs(settings.kafka)}
    md = admin.list_topics(timeout=10)
    return sum(
        1
        for name, t in md.topics.items()
        if name in names
        for p in t.partitions.values()
        if len(p.isrs) < len(p.replicas) or p.leader < 0
    )


def topic_durability(settings: Settings) -> set[tuple[int, str]]:
    """{(replicas, min.insync.replicas)} over the namespace's topics and partitions."""
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
    names = [s.name for s in topic_specs(settings.kafka)]
    md = admin.list_topics(timeout=10)
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
    min_isr = {r.name: f.result()["min.insync.replicas"].value for r, f in futures.items()}
    return {(len(p.replicas), min_isr[n]) for n in names for p in md.topics[n].partitions.values()}


def redis_service(settings: Settings) -> Any:
    """The namespace's own redis-server (its state beside the namespace's data, not `make up`'s)."""
    own = with_section(settings, "paths", run_dir=settings.paths.data_dir / "run")
    return local_services.services(own)["redis"]


# --- processes ----------------------------------------------------------------------------------------


class Proc:
    """A child in its own process group, killable with SIGKILL like a crashed host; output to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name, self.argv, self.env = name, argv, env
        self.log = log_dir / f"{name}.log"
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                self.argv, cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, 9)
            self.proc.wait(30)

    def restart(self) -> None:
        self.kill()
        self.proc = self._spawn()

    def stop(self, grace_s: float = 15.0) -> None:
        if self.alive():
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_ranker(settings: Settings, name: str, port: int, metrics_port: int, log_dir: Path) -> Proc:
    """`hybridrec serve` with the shipped serving defaults (budgets, breaker) on the given ports."""
    serving = {"port": port, "metrics_port": metrics_port}
    return Proc(
        name,
        [sys.executable, "-m", "serving.main", "--log-level", "WARNING"],
        child_env(settings, serving=serving),
        log_dir,
    )


def ranker_healthy(port: int) -> bool:
    """A page that carries a model version (the process serves and its model is loaded). The blocking API: a
    second grpc.aio event loop in this process (the page load has one) makes grpc's poller raise
    BlockingIOError."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            page = ranker_pb2_grpc.RankerStub(channel).GetHomepage(pb.HomepageRequest(user_id="probe"), timeout=2)
        except grpc.RpcError:
            return False
        return bool(page.model_version)


def shutdown(*parts: Any) -> None:
    """Stop loads and processes at the end of a scenario (each ``stop()``), never masking the test's own failure."""
    import contextlib

    for part in parts:
        if part is not None:
            with contextlib.suppress(Exception):
                part.stop()


# --- ranker load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic() when the call left
    latency_s: float
    kind: str  # "ok", "degraded" (answered inside the deadline with a fallback flag) or "failed"
    detail: str = ""  # degraded flags or the status code


def _channel_options(ports: list[int]) -> tuple[str, list[tuple[str, Any]]]:
    """One channel over every ranker: round robin between them, and an UNAVAILABLE call (its ranker died) retried
    on another one within the same deadline, as a homepage backend would be configured."""
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{"service": "hybridrec.v1.Ranker"}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.01s",
                    "maxBackoff": "0.05s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
    target = "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)
    return target, [("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 1)]


WARM_UP_CALLS = 40  # unrecorded pages before the load: every ranker's connection and first real pages


class PageLoad:
    """Steady open-loop GetHomepage load over the rankers, every answer recorded with its send time."""

    def __init__(self, ports: list[int], users: list[str], rate: float, deadline_s: float = 0.25) -> None:
        self.ports, self.users, self.rate, self.deadline_s = ports, users, rate, deadline_s
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._warm = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="page-load", daemon=True)

    def start(self) -> PageLoad:
        """Starts the load once a warm-up is answered. The test process's own pauses must not read as the
        system's failures: its startup objects are frozen out of the collector (a full collection of the ground
        truth lists stalled the client past the deadline), and the unrecorded warm-up pays for the channel's
        connections and each ranker's first pages of real users."""
        gc.collect()
        gc.freeze()
        self._warm.clear()
        self._thread.start()
        if not self._warm.wait(60):
            raise RuntimeError("the page load's warm-up got no answer in 60 s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _run(self) -> None:
        target, options = _channel_options(self.ports)
        rng = random.Random(7)
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            stub = ranker_pb2_grpc.RankerStub(channel)
            for user in rng.sample(self.users, min(WARM_UP_CALLS, len(self.users))):
                await stub.GetHomepage(self._request(user), timeout=5)
            self._warm.set()
            pending: set[asyncio.Task[None]] = set()
            start, n = time.monotonic(), 0
            while not self._stop.is_set():
                due = start + n / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                task = asyncio.create_task(self._one(stub, rng.choice(self.users)))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)

    async def _one(self, stub: ranker_pb2_grpc.RankerStub, user: str) -> None:
        sent = time.monotonic()
        try:
            page = await stub.GetHomepage(self._request(user), timeout=self.deadline_s)
            latency = time.monotonic() - sent
            if page.degraded:
                self.answers.append(Answer(sent, latency, "degraded", ",".join(sorted(page.degraded))))
            else:
                self.answers.append(Answer(sent, latency, "ok"))
        except grpc.aio.AioRpcError as exc:
            self.answers.append(Answer(sent, time.monotonic() - sent, "failed", exc.code().name))

    @staticmethod
    def _request(user: str) -> pb.HomepageRequest:
        return pb.HomepageRequest(user_id=user, n_rows=4, items_per_row=10, context=pb.RequestContext(device=2))

    def between(self, t0: float, t1: float) -> list[Answer]:
        return [a for a in list(self.answers) if t0 <= a.sent < t1]


# --- event load ----------------------------------------------------------------------------------------

POISON_EVERY = 97  # every 97th offered row has no item id: the producer dead-letters it (missing_item_id)


def _row(e: InteractionEvent, poisoned: bool) -> dict[str, object]:
    return {
        "event_id": e.event_id,
        "user_id": e.user_id,
        "item_id": "" if poisoned else e.item_id,
        "event_type": EventType.Name(e.event_type),
        "value": e.value,
        "event_time_ms": e.event_time_ms,
        "surface": e.surface,
        "position": e.position,
        "device": "TV",
        "country": e.country,
    }


class EventLoad:
    """Steady replay of a fixed event list through the project's own replay (validating, idempotent, acks=all
    producer), recording which ids it offered and which it poisoned: the ground truth of every check."""

    def __init__(self, settings: Settings, events: list[InteractionEvent], rate: float, batch: int = 20) -> None:
        self.settings, self.events, self.rate, self.batch = settings, events, rate, batch
        self.offered: list[str] = []
        self.poisoned: list[str] = []
        self.log: list[tuple[float, list[str], list[str]]] = []  # (when handed over, valid ids, poisoned ids)
        self.summary: ReplaySummary | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-load", daemon=True)

    def start(self) -> EventLoad:
        self._thread.start()
        return self

    def stop(self) -> ReplaySummary:
        self._stop.set()
        self._thread.join(300)
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary

    def _batches(self) -> Iterator[pa.RecordBatch]:
        for i in range(0, len(self.events), self.batch):
            chunk = self.events[i : i + self.batch]
            rows, ok, bad = [], [], []
            for k, e in enumerate(chunk, start=i):
                poisoned = k % POISON_EVERY == POISON_EVERY - 1
                rows.append(_row(e, poisoned))
                (bad if poisoned else ok).append(e.event_id)
            # logged as handed over: replay asks for the next batch only after producing this one, and a stop
            # request is checked before a batch is taken, so the last logged batch may not have been sent
            self.log.append((time.monotonic(), ok, bad))
            self.offered += ok
            self.poisoned += bad
            yield from archive_table(rows).to_batches()

    def _run(self) -> None:
        producer = EventProducer(self.settings.kafka, self.settings.validation, component="chaos")
        try:
            self.summary = replay(
                self._batches(),
                producer,
                dataset="chaos",
                rate=self.rate,
                stop=lambda: "stopped" if self._stop.is_set() else None,
            )
        except ReplayIncomplete as exc:
            self.summary = exc.summary
        except BaseException as exc:
            self.error = exc

    def offered_between(self, t0: float, t1: float) -> tuple[list[str], list[str]]:
        """(valid, poisoned) ids handed to the producer in ``[t0, t1)`` (monotonic time)."""
        valid: list[str] = []
        poisoned: list[str] = []
        for at, ok, bad in list(self.log):
            if t0 <= at < t1:
                valid += ok
                poisoned += bad
        return valid, poisoned


def topic_event_ids(settings: Settings, topic: str, timeout_s: float = 60.0) -> list[str]:
    """Every record of ``topic`` up to its current end, as event ids (the DLQ's raw bytes decode too)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"chaos-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    ids: list[str] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        todo = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    continue
                ids.append(InteractionEvent.FromString(msg.value()).event_id)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    todo.discard(msg.partition())
    finally:
        consumer.close()
    return ids


def exactly_once(expected: list[str], found: list[str] | Counter[str]) -> tuple[int, int]:
    """(lost, duplicated) of the ``expected`` ids in ``found``: those missing, and surplus copies of the others."""
    counts = found if isinstance(found, Counter) else Counter(found)
    want = set(expected)
    return sum(1 for i in want if not counts[i]), sum(counts[i] - 1 for i in want if counts[i] > 1)


# --- results ----------------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    load: str
    lost: int | None = None
    duplicated: int | None = None
    failed: int = 0
    degraded: int = 0
    answered: int = 0
    recover_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        def n(v: int | None) -> str:
            return "—" if v is None else f"{v:,}"

        rec = "—" if self.recover_s is None else f"{self.recover_s:.1f} s"
        return [
            self.fault,
            self.load,
            n(self.lost),
            n(self.duplicated),
            f"{self.failed} of {self.answered:,}",
            f"{self.degraded:,}",
            rec,
            "; ".join(self.notes),
        ]


HEADER = [
    "fault",
    "load",
    "events lost",
    "duplicated",
    "requests failed",
    "degraded answers",
    "time to recover",
    "checks",
]


def render(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def summarize_answers(answers: list[Answer]) -> tuple[int, int, int, Counter[str]]:
    """(answered, failed, degraded, reasons) of a window of answers."""
    reasons: Counter[str] = Counter(a.detail for a in answers if a.kind != "ok")
    return (len(answers), sum(a.kind == "failed" for a in answers), sum(a.kind == "degraded" for a in answers), reasons)


def when_failed(answers: list[Answer], faults: FaultLog) -> str:
    """Where a run's failed calls fall: seconds into the page load and how long each took, beside the faults'
    windows (a failure outside every window, or one that took far past its deadline, points at the load itself)."""
    if not answers:
        return "no answers"
    t0 = answers[0].sent
    failed = ", ".join(f"{a.sent - t0:.1f} s ({a.latency_s * 1000:.0f} ms)" for a in answers if a.kind == "failed")
    windows = ", ".join(f"{row.fault} {a - t0:.1f}-{b - t0:.1f} s" for row, a, b, _ in faults.windows)
    return f"failed calls sent at {failed or 'none'}; fault windows: {windows or 'none'}"


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --- faults ------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One fault in progress: when the kill began, the garbage records sent while the part was down (their
    sha256s: each must reach the dead-letter topic exactly once), the time to recover."""

    t0: float = field(default_factory=time.monotonic)
    garbage: list[str] = field(default_factory=list)
    recover_s: float | None = None

    def wait_recovered(self, done: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> None:
        """Wait for ``done``; the recovery time counts from the kill (None: not within ``timeout_s``)."""
        back = wait_until(done, timeout_s, every_s=every_s)
        self.recover_s = None if back is None else time.monotonic() - self.t0


class FaultLog:
    """The faults of one run, one at a time: each one's row and its window (from the kill to ``settle_s`` after
    recovery), whose events and pages are checked after the run."""

    def __init__(self, load: str, settle_s: float = 3.0) -> None:
        self.load, self.settle_s = load, settle_s
        self.windows: list[tuple[Row, float, float, list[str]]] = []  # row, window start and end, garbage

    def record(self, row: Row, t0: float, garbage: Sequence[str] = ()) -> None:
        time.sleep(self.settle_s)
        self.windows.append((row, t0, time.monotonic(), list(garbage)))

    @contextmanager
    def fault(self, name: str, recovered: str, *notes: str) -> Iterator[Fault]:
        """The body kills the part, restarts it and calls ``wait_recovered``; then the row (``notes``, what
        ``recovered`` means) and the window are recorded. A body that raises records nothing."""
        f = Fault()
        yield f
        self.record(
            Row(name, self.load, recover_s=f.recover_s, notes=[*notes, f"recovered = {recovered}"]), f.t0, f.garbage
        )


# The faults both chaos tests inflict. ``while_down`` runs while the part is down and returns the sha256s of the
# garbage records it sent (the full suite checks each reaches the dead-letter topic once).
WhileDown = Callable[[], list[str]]


def kill_broker(faults: FaultLog, settings: Settings, timeout_s: float, while_down: WhileDown | None = None) -> None:
    """One broker of the three killed and restarted: acks=all with min.insync.replicas 2 keeps writes going."""
    node = cluster_nodes(settings)[1]
    with faults.fault(f"Kafka broker {node.name} (of 3)", "every partition back to 3 in-sync replicas") as f:
        local_services.kill(node)
        f.garbage = while_down() if while_down else []
        local_services.up(node)
        f.wait_recovered(lambda: under_replicated(settings) == 0, timeout_s, every_s=0.5)


def kill_redis(
    faults: FaultLog, settings: Settings, pages: PageLoad, timeout_s: float, while_down: WhileDown | None = None
) -> None:
    """The online store killed and restarted: pages fall back inside the deadline, AOF brings the features back."""
    redis = redis_service(settings)
    with faults.fault("Redis", "first page without a degraded flag after the restart") as f:
        local_services.kill(redis)
        f.garbage = while_down() if while_down else []
        local_services.up(redis)
        restarted = time.monotonic()
        f.wait_recovered(lambda: any(a.kind == "ok" for a in pages.between(restarted, time.monotonic())), timeout_s)


def kill_ranker(faults: FaultLog, ranker: Proc, port: int, timeout_s: float) -> None:
    """One of two rankers killed and restarted: the client's round robin retries UNAVAILABLE calls on the other."""
    with faults.fault("ranker process (1 of 2)", "the restarted process serves its model") as f:
        ranker.kill()
        ranker.restart()
        f.wait_recovered(lambda: ranker_healthy(port), timeout_s, every_s=0.5)
