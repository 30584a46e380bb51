"""The JVM online-store writer (``RedisFeatureSink.java``) against the real Redis: the newest snapshot of an entity
in a batch wins, a replayed or older snapshot never overwrites a newer one (what makes restarts idempotent),
batches larger than one pipeline round trip are written whole, keys get the online store's TTL, and a Redis that
goes away and comes back loses no pending row."""

from __future__ import annotations

import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp

from hybridrec.config import FeastConfig, Settings, with_section
from hybridrec.feature_store import drop_online_rows
from hybridrec.fresh_spec import HashLayout
from streaming import jvm
from streaming.config import StreamingSettings, streaming_settings
from streaming.java_features import spec_text
from tests.support import streaming_kit as testkit


def payload(key: bytes, fields: dict[bytes, bytes]) -> bytes:
    """A snapshot payload as ``FeastEncoding.payload`` frames it (a marshal subset: ``marshal.loads`` reads it)."""

    def b(x: bytes) -> bytes:
        return b"s" + struct.pack("<I", len(x)) + x

    return b")\x02" + b(key) + b"{" + b"".join(b(f) + b(v) for f, v in fields.items()) + b"0"


def snapshot(layout: HashLayout, entity: str, version_ms: int, value: int) -> tuple[str, int, bytes]:
    """(entity, version, payload) whose first feature holds ``value``: enough to tell versions apart in Redis."""
    ts = Timestamp(seconds=version_ms // 1000, nanos=version_ms % 1000 * 1_000_000).SerializeToString()
    fields = {layout.ts_field: ts, layout.fields[0][2]: Value(int64_val=value).SerializeToString()}
    return entity, version_ms, payload(layout.redis_key(entity), fields)


def batch_line(layout: HashLayout, snapshots: list[tuple[str, int, bytes]]) -> str:
    entities, versions, payloads = zip(*snapshots, strict=True)
    return " ".join(
        [
            layout.view.encode().hex(),
            ",".join(e.encode().hex() for e in entities),
            ",".join(map(str, versions)),
            ",".join(p.hex() for p in payloads),
        ]
    )


def run_sink(s: StreamingSettings, lines: list[str], tmp_path: Path, classpath: str, ttl: int = 0) -> list[int]:
    """Rows written per batch (-1: Redis unreachable, rows kept)."""
    return [w for w, _ in SinkDriver(s, tmp_path, classpath, ttl).run(lines)]


class SinkDriver:
    """The writer in a JVM of its own, fed one line at a time: (rows written, rows pending) per line."""

    def __init__(self, s: StreamingSettings, tmp_path: Path, classpath: str, ttl: int = 0) -> None:
        spec = tmp_path / f"spec-{ttl}-{s.redis.port}.txt"
        spec.write_text(spec_text(s, testkit.fresh_layouts(s), kafka=False, key_ttl_seconds=ttl))
        self.proc = subprocess.Popen(
            ["java", "-cp", classpath, jvm.REDIS_SINK_DRIVER, str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def send(self, line: str) -> tuple[int, int]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, self.proc.stderr.read() if self.proc.stderr else ""
        written, pending = reply.split()
        return int(written), int(pending)

    def run(self, lines: list[str]) -> list[tuple[int, int]]:
        try:
            return [self.send(line) for line in lines]
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        assert self.proc.wait(60) == 0


@pytest.fixture
def settings(services: Settings, tmp_path: Path) -> Iterator[StreamingSettings]:
    feast = FeastConfig(project=f"t{uuid.uuid4().hex[:10]}", registry_path=tmp_path / "registry.db")
    s = streaming_settings(services.model_copy(update={"feast": feast}), write_batch_size=2)
    yield s
    drop_online_rows(s)


def test_sink_keeps_the_newest_row_and_skips_replays(
    settings: StreamingSettings, java_classpath: str, tmp_path: Path
) -> None:
    user, item = testkit.fresh_layouts(settings)
    first = [
        snapshot(user, "u1", 1_000, 1),
        snapshot(user, "u1", 2_000, 2),
        snapshot(user, "u2", 1_000, 3),
        snapshot(user, "u3", 1_500, 4),
        snapshot(user, "ü-😀", 1_000, 5),
    ]
    older = [snapshot(user, "u1", 1_500, 6), snapshot(user, "u2", 3_000, 7)]
    lines = [
        batch_line(user, first),
        batch_line(user, first),
        batch_line(user, older),
        batch_line(item, [snapshot(item, "i1", 5, 8)]),
    ]
    # 4 entities over pipelines of 2; the replay writes nothing; of the older batch only u2 (newer) is written.
    assert run_sink(settings, lines, tmp_path, java_classpath) == [4, 0, 1, 1]

    client = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    field = user.fields[0][2]

    def value(layout: HashLayout, entity: str) -> int:
        return Value.FromString(
            client.hget(layout.redis_key(entity), field if layout is user else layout.fields[0][2])
        ).int64_val

    assert {e: value(user, e) for e in ("u1", "u2", "u3", "ü-😀")} == {"u1": 2, "u2": 7, "u3": 4, "ü-😀": 5}
    assert value(item, "i1") == 8
    assert client.ttl(user.redis_key("u1")) == -1  # key_ttl_seconds 0: no expiry

    assert run_sink(settings, [batch_line(item, [snapshot(item, "i2", 5, 9)])], tmp_path, java_classpath, ttl=600) == [
        1
    ]
    assert 0 < client.ttl(item.redis_key("i2")) <= 600


def test_a_redis_restart_loses_no_pending_row(settings: StreamingSettings, java_classpath: str, tmp_path: Path) -> None:
    """Redis away: the write fails, every row stays pending (and newer snapshots of the same entity replace older
    ones); Redis back: one write puts them all in."""
    server = testkit.RedisServer(tmp_path / "redis")
    s = with_section(settings, "redis", port=server.port)
    user, _ = testkit.fresh_layouts(s)
    driver = SinkDriver(s, tmp_path, java_classpath)
    try:
        assert driver.send(batch_line(user, [snapshot(user, "u1", 1_000, 1)])) == (1, 0)
        server.stop()
        assert driver.send(batch_line(user, [snapshot(user, "u1", 2_000, 2), snapshot(user, "u2", 2_000, 3)])) == (
            -1,
            2,
        )
        assert driver.send(batch_line(user, [snapshot(user, "u2", 3_000, 4)])) == (-1, 2)
        server.start()
        assert driver.send("write") == (2, 0)
        client = redis.Redis(host="127.0.0.1", port=server.port)
        got = {e: Value.FromString(client.hget(user.redis_key(e), user.fields[0][2])).int64_val for e in ("u1", "u2")}
        assert got == {"u1": 2, "u2": 4}
        client.close()
    finally:
        driver.close()
        server.stop()
