"""The JVM online-store writer (``RedisFeatureSink.java``) against the real Redis: the newest snapshot of an entity
in a batch wins, a replayed or older snapshot never overwrites a newer one (what makes restarts idempotent),
batches larger than one pipeline round trip are written whole, and keys get the online store's TTL."""

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

from hybridrec.config import FeastConfig, Settings
from streaming.config import StreamingSettings, streaming_settings
from streaming.feast_writer import HashLayout
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
    return " ".join([layout.view.encode().hex(), ",".join(e.encode().hex() for e in entities),
                     ",".join(map(str, versions)), ",".join(p.hex() for p in payloads)])


def run_sink(s: StreamingSettings, lines: list[str], tmp_path: Path, classpath: str, ttl: int = 0) -> list[int]:
    spec = tmp_path / f"spec-{ttl}.txt"
    spec.write_text(spec_text(s, *testkit.fresh_layouts(s), kafka=False, key_ttl_seconds=ttl))
    proc = subprocess.run(["java", "-cp", classpath, "io.hybridrec.streaming.RedisSinkDriver", str(spec)],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [int(n) for n in proc.stdout.split()]


@pytest.fixture
def settings(services: Settings, tmp_path: Path) -> Iterator[StreamingSettings]:
    feast = FeastConfig(project=f"t{uuid.uuid4().hex[:10]}", registry_path=tmp_path / "registry.db")
    s = streaming_settings(services.model_copy(update={"feast": feast}), write_batch_size=2)
    yield s
    testkit.drop_online_rows(s)


def test_sink_keeps_the_newest_row_and_skips_replays(settings: StreamingSettings, java_classpath: str,
                                                     tmp_path: Path) -> None:
    user, item = testkit.fresh_layouts(settings)
    first = [snapshot(user, "u1", 1_000, 1), snapshot(user, "u1", 2_000, 2), snapshot(user, "u2", 1_000, 3),
             snapshot(user, "u3", 1_500, 4), snapshot(user, "ü-😀", 1_000, 5)]
    older = [snapshot(user, "u1", 1_500, 6), snapshot(user, "u2", 3_000, 7)]
    lines = [batch_line(user, first), batch_line(user, first), batch_line(user, older),
             batch_line(item, [snapshot(item, "i1", 5, 8)])]
    # 4 entities over pipelines of 2; the replay writes nothing; of the older batch only u2 (newer) is written.
    assert run_sink(settings, lines, tmp_path, java_classpath) == [4, 0, 1, 1]

    client = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    field = user.fields[0][2]

    def value(layout: HashLayout, entity: str) -> int:
        return Value.FromString(client.hget(layout.redis_key(entity), field if layout is user else
                                            layout.fields[0][2])).int64_val

    assert {e: value(user, e) for e in ("u1", "u2", "u3", "ü-😀")} == {"u1": 2, "u2": 7, "u3": 4, "ü-😀": 5}
    assert value(item, "i1") == 8
    assert client.ttl(user.redis_key("u1")) == -1  # key_ttl_seconds 0: no expiry

    assert run_sink(settings, [batch_line(item, [snapshot(item, "i2", 5, 9)])], tmp_path, java_classpath,
                    ttl=600) == [1]
    assert 0 < client.ttl(item.redis_key("i2")) <= 600
