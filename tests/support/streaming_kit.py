"""Helpers shared by the speed layer's tests and benchmarks: a deterministic event world, running the job as a
separate process (so it can be killed), and reading back what it produced."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads

from hybridrec.config import PROJECT_ROOT, FeastConfig, KafkaConfig, Settings, with_section
from hybridrec.contract import ARCHIVE_SCHEMA, ITEM_FRESH_VIEW, USER_FRESH_VIEW, genre_vector
from hybridrec.events import make_event
from hybridrec.feature_store import drop_online_rows
from hybridrec.fresh_features import VIEWS
from hybridrec.fresh_spec import HashLayout
from hybridrec_pb.events_pb2 import CatalogItem, EventType, InteractionEvent
from streaming.config import StreamingSettings, streaming_settings
from streaming.feast_writer import hash_layout
from tests.support.fresh_reference import END_OF_INPUT, Event, mismatches, reference_features

TEST_JAR = "streaming/hybridrec-streaming-tests.jar"
"""The Maven module's test drivers (`make stream-jar` puts them beside the job's jar)."""
TYPES = ("IMPRESSION", "PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS", "HIDE")
GENRE_SETS = (("Action", "Sci-Fi"), ("Comedy",), ("Drama", "Romance"), ("Horror",), ())


@dataclass(frozen=True)
class World:
    events: list[InteractionEvent]  # in produce order (with bounded disorder)
    genres: dict[str, tuple[str, ...]]

    def genre_lookup(self, item: str) -> list[float]:
        return genre_vector(self.genres.get(item, ()))

    def pairs(self) -> list[tuple[str, Event]]:
        return [
            (e.user_id, Event(e.event_time_ms, e.event_id, e.item_id, e.event_type, e.user_id)) for e in self.events
        ]


def make_world(
    n_events: int,
    *,
    n_users: int = 50,
    n_items: int = 40,
    seed: int = 5,
    start_ms: int | None = None,
    disorder_ms: int = 1_000,
    step_ms: int = 20_000,
) -> World:
    """Events over a few hours ending before now; each is produced up to ``disorder_ms`` out of order."""
    rng = random.Random(seed)
    start = start_ms if start_ms is not None else int(time.time() * 1000) - n_events * step_ms - 600_000
    events = []
    t = start
    for k in range(n_events):
        t += rng.randrange(step_ms)
        etype = rng.choice(TYPES)
        value = {"RATING": rng.choice([0.5, 3.0, 5.0]), "THUMBS": rng.choice([1.0, -1.0])}.get(etype, 0.0)
        events.append(
            make_event(
                event_id=f"ev{seed}-{k}",
                user_id=f"u{rng.randrange(n_users)}",
                item_id=f"i{rng.randrange(n_items)}",
                event_type=etype,
                value=value,
                event_time_ms=t,
                surface="home/row",
                position=k % 10,
                device="TV",
                country="NL",
            )
        )
    # Bounded disorder: sort by a jittered time, so an event is at most disorder_ms behind a later-sent one.
    jitter = {e.event_id: e.event_time_ms + rng.randrange(disorder_ms + 1) for e in events}
    events.sort(key=lambda e: jitter[e.event_id])
    genres = {f"i{k}": GENRE_SETS[k % len(GENRE_SETS)] for k in range(n_items)}
    return World(events, genres)


def publish_catalog(settings: StreamingSettings, genres: dict[str, tuple[str, ...]]) -> None:
    from confluent_kafka import Producer

    from hybridrec.kafka.producer import producer_config

    producer = Producer(producer_config(settings.kafka))
    for item, gs in genres.items():
        msg = CatalogItem(item_id=item, title=item, genres=list(gs), year=2000)
        producer.produce(settings.kafka.topics.catalog, msg.SerializeToString(), item.encode())
    assert producer.flush(30) == 0


def build_jar() -> None:
    """`make stream-jar`: the job's jar and its test drivers (a no-op when they are up to date)."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "stream-jar"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"`make stream-jar` failed:\n{proc.stdout}\n{proc.stderr}")


def java_classpath(settings: Settings) -> str | None:
    """Classpath of the Java test drivers (the Maven module's test jar), which run the job's classes outside Flink:
    the job's jar and its test jar, pyflink's Flink jars and the job's other jars (``CatalogGenres`` links the
    connector's shaded Kafka client, ``RedisFeatureSink`` Jedis); None without pyflink's jars."""
    import pyflink

    from streaming.job import STREAM_JAR

    flink = sorted((Path(pyflink.__file__).parent / "lib").glob("flink-*.jar"))
    if not flink:
        return None
    deps = settings.paths.deps_dir
    job = sorted((deps / "flink").glob("*.jar"))
    return ":".join(str(p) for p in [deps / STREAM_JAR, deps / TEST_JAR, *flink, *job])


def settings_file(settings: StreamingSettings, path: Path) -> Path:
    path.write_text(settings.model_dump_json())
    return path


class JobProcess:
    """The job in its own process group (its JVM included), killable with SIGKILL like a crashed host."""

    def __init__(self, settings: StreamingSettings, workdir: Path, *extra: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = settings_file(settings, workdir / f"settings-{time.monotonic_ns()}.json")
        self.log = workdir / f"job-{time.monotonic_ns()}.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streaming.main", "run", "--settings-json", str(cfg), *extra],
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._log.flush()

    def kill(self) -> None:
        """SIGKILL the whole process group: the Python client and the JVM MiniCluster with it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self._log.close()

    def tail(self, n: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if not line.lstrip().startswith("at "))[-8000:] if lines else ""


def read_archive(settings: StreamingSettings) -> pa.Table:
    root = settings.archive_dir
    if not root.exists():
        return ARCHIVE_SCHEMA.empty_table()
    part = pads.partitioning(pa.schema([("event_date", pa.string()), ("event_hour", pa.string())]), flavor="hive")
    return pads.dataset(root, format="parquet", partitioning=part).to_table()


def read_features(
    settings: StreamingSettings, users: list[str], items: list[str]
) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
    """user_fresh and item_fresh as Feast's get_online_features returns them."""
    from feature_repo.definitions import build
    from hybridrec.feature_store import open_store

    store = open_store(settings)
    definitions = build(settings)

    def read(view: str, fields: list[str], key: str, ids: list[str]) -> dict[str, dict[str, object]]:
        if not ids:
            return {}
        refs = [f"{view}:{f}" for f in fields]
        got = store.get_online_features(features=refs, entity_rows=[{key: i} for i in ids]).to_dict()
        return {i: {f: got[f][n] for f in fields} for n, i in enumerate(ids)}

    return (
        read(USER_FRESH_VIEW, [f.name for f in definitions.user_fresh.features], "user_id", users),
        read(ITEM_FRESH_VIEW, [f.name for f in definitions.item_fresh.features], "item_id", items),
    )


def event_type_name(v: int) -> str:
    return EventType.Name(v)


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]


def discard(settings: Settings, *, rows: bool = True) -> None:
    """Remove what a run with isolated settings left in the shared services: its topics and (``rows``) its Redis
    rows (not needed on a private :class:`RedisServer`)."""
    from hybridrec.kafka.topics import delete_topics, topic_specs

    delete_topics(settings.kafka, [s.name for s in topic_specs(settings.kafka)])
    if rows:
        drop_online_rows(settings)


def fresh_layouts(settings: Settings) -> tuple[HashLayout, ...]:
    """Feast's Redis layouts of the fresh views (in ``fresh_features.VIEWS`` order) under ``settings``, from the
    definitions (no registry)."""
    from feature_repo.definitions import build
    from hybridrec.feature_store import repo_config

    definitions, config = build(settings), repo_config(settings)
    views = {fv.name: fv for fv in (definitions.user_fresh, definitions.item_fresh)}
    return tuple(hash_layout(views[v.name], config) for v in VIEWS)


def with_topics_named(kafka: KafkaConfig, prefix: str, **topic_settings: object) -> KafkaConfig:
    """``kafka`` with its four topics renamed ``<prefix>.interactions`` …, so a test or chaos run has topics of its
    own on a shared broker; ``topic_settings`` override the rest of the topics' settings (e.g. partitions)."""
    names = {
        "interactions": f"{prefix}.interactions",
        "dlq": f"{prefix}.interactions.dlq",
        "impressions": f"{prefix}.impressions",
        "catalog": f"{prefix}.catalog",
    }
    return with_section(kafka, "topics", **names, **topic_settings)


def isolated_streaming_settings(base: Settings, workdir: Path, **streaming: object) -> StreamingSettings:
    """Settings of one test run: unique topics, Feast project, registry, lake and checkpoints under workdir."""
    tag = uuid.uuid4().hex[:10]
    kafka = with_topics_named(base.kafka, f"t{tag}", partitions=4)
    feast = FeastConfig(project=f"t{tag}", registry_path=workdir / "registry.db")
    # Bounded runs need no idleness (a finished partition stops holding the watermark by itself), and with it
    # a backpressured partition could be marked idle and its backlog turn late on a loaded machine.
    defaults: dict[str, object] = {
        "bounded": True,
        "checkpoint_interval_ms": 2_000,
        "group_id": f"g{tag}",
        "source_idle_timeout_ms": 0,
    }
    return streaming_settings(
        with_section(base, "paths", data_dir=workdir / "data").model_copy(update={"kafka": kafka, "feast": feast}),
        **{**defaults, **streaming},
    )


def produce(
    settings: StreamingSettings,
    events: list[InteractionEvent],
    raw: list[tuple[bytes, bytes]] = (),
    raw_every: int = 50,
) -> None:
    """Valid events through the validating producer; raw (key, bytes) records interleaved with a plain one."""
    from confluent_kafka import Producer

    from hybridrec.kafka.producer import EventProducer

    producer = EventProducer(settings.kafka, settings.validation)
    plain = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    pending = list(raw)
    for n, e in enumerate(events):
        assert producer.send(e), e
        if pending and n % raw_every == 0:
            key, value = pending.pop()
            plain.produce(settings.kafka.topics.interactions, value, key)
    for key, value in pending:
        plain.produce(settings.kafka.topics.interactions, value, key)
    producer.flush()
    assert plain.flush(30) == 0


def now_event(user: str, item: str, event_type: str, event_id: str | None = None) -> InteractionEvent:
    """A valid event stamped with the wall clock as it is made, as a homepage backend sends one when it happens
    (freshness and recovery tests time from it); ``event_id`` defaults to one unique to this call."""
    return make_event(
        event_id=event_id or f"{user}-{item}-{event_type}-{time.time_ns()}",
        user_id=user,
        item_id=item,
        event_type=event_type,
        value=0.0,
        event_time_ms=int(time.time() * 1000),
        device="TV",
        country="NL",
    )


SENTINEL_USER = "zz-sentinel"
SENTINEL_ITEM = "zz-sentinel-item"


def produce_sentinels(settings: StreamingSettings, at_ms: int) -> list[InteractionEvent]:
    """One valid event per partition at ``at_ms``: moves every partition's watermark there, so an unbounded job's
    trending windows are where the reference puts them at that watermark (tests compare all but the sentinels)."""
    from confluent_kafka import Producer

    topic = settings.kafka.topics.interactions
    plain = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    out = []
    for p in range(settings.kafka.topics.partitions):
        user = f"{SENTINEL_USER}-{p}"
        e = make_event(
            event_id=f"sentinel-{p}",
            user_id=user,
            item_id=SENTINEL_ITEM,
            event_type="CLICK",
            value=0.0,
            event_time_ms=at_ms,
        )
        plain.produce(topic, e.SerializeToString(), user.encode(), partition=p)
        out.append(e)
    assert plain.flush(30) == 0
    return out


def wait_for(predicate: object, timeout_s: float, every_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every_s)
    return False


class RedisServer:
    """A private Debian redis-server on a free loopback port, persisting every write (AOF, fsync always), so a test
    can kill and restart it without touching the shared one and without Redis itself losing data."""

    def __init__(self, workdir: Path) -> None:
        import shutil as _shutil

        from tests.helpers import free_port

        self.binary = _shutil.which("redis-server") or "/usr/bin/redis-server"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port)
        assert wait_for(lambda: _pings(client), 30, every_s=0.1), "private redis-server did not start"
        client.close()

    def stop(self) -> None:
        """SIGKILL, like a crash: what it acknowledged is in its append-only file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self.proc = None


def _pings(client: object) -> bool:
    import redis

    try:
        return bool(client.ping())  # type: ignore[attr-defined]
    except redis.exceptions.ConnectionError:
        return False


def feature_mismatches(
    settings: StreamingSettings,
    pairs: list[tuple[str, Event]],
    genres: object,
    *,
    watermark_ms: int | None = END_OF_INPUT,
    skip: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """What the job wrote (read through Feast) against the reference for ``(user_id, event)`` pairs in produce
    order: ``view:entity`` → differing features (empty when everything matches). Floats within 1e-5 (users: genre
    mixes are float32) and 1e-9 (items)."""
    expected = reference_features(
        pairs,
        genres,
        allowed_lateness_ms=settings.streaming.allowed_lateness_ms,  # type: ignore[arg-type]
        max_buffered=settings.streaming.max_buffered_events,
        watermark_ms=watermark_ms,
    )
    users, items = expected[USER_FRESH_VIEW], expected[ITEM_FRESH_VIEW]
    got_users, got_items = read_features(settings, sorted(users), sorted(items))
    bad: dict[str, list[str]] = {}
    for view, exp, got, rel in ((USER_FRESH_VIEW, users, got_users, 1e-5), (ITEM_FRESH_VIEW, items, got_items, 1e-9)):
        for entity, features in exp.items():
            wanted = {k: v for k, v in features.items() if k not in skip}
            if m := mismatches(got[entity], wanted, rel):
                bad[f"{view}:{entity}"] = m
    return bad
