"""The JVM feature operator (``EntityFeatures.java``) equals the from-definition reference and writes the bytes
Feast reads: seeded random events fed as the job feeds them (user micro-windows, item micro-windows and HOP
counts), state stored and reloaded per row, driven through the class's test entry point."""

from __future__ import annotations

import marshal
import random
import subprocess
from pathlib import Path

import pytest
from feast.infra.online_stores.helpers import _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import DoubleList, FloatList, Int64List, StringList, Value
from google.protobuf.timestamp_pb2 import Timestamp

from hybridrec.config import get_settings
from hybridrec.contract import ITEM_FRESH_VIEW, USER_FRESH_VIEW, genre_vector
from hybridrec.feature_store import repo_config
from streaming.config import StreamingSettings, streaming_settings
from streaming.java_features import spec_text
from streaming.logic import Event
from tests.support import streaming_kit as testkit
from tests.support.fresh_reference import mismatches, reference_features

WINDOW_MS = 60_000
USERS = ["u0", "u1", "u2", "ü-😀"]
CATALOG = {f"i{k}": [["Action", "Drama"], ["Comedy"], [], ["Children's", "Weird"], ["Drama", "Drama", "War"]][k % 5]
           for k in range(25)}  # i25..i29 are not in the catalog: genre Other


def genres(item: str) -> list[float]:
    return genre_vector(CATALOG.get(item, ()))


def random_events(seed: int, n: int = 700) -> list[tuple[str, Event]]:
    rng = random.Random(seed)
    t = 1_700_000_000_000
    out = []
    for k in range(n):
        t += rng.choice([1_000, 30_000, 200_000, 900_000, 4_000_000])
        out.append((rng.choice(USERS), Event(t, f"e{k}", f"i{rng.randrange(30)}", rng.randrange(1, 8))))
    return out


def settings() -> StreamingSettings:
    return streaming_settings(get_settings(), recent_n=5, hidden_n=3, session_gap_ms=600_000,
                              trending_window_ms=3_600_000, trending_slide_ms=300_000)


def _h(text: str) -> str:
    return text.encode().hex()


def rows(events: list[tuple[str, Event]], s: StreamingSettings) -> list[tuple[int, str]]:
    """(end_ms, input line) of every ENTITY_BATCH row, as the SQL half would emit them."""
    cfg = s.streaming
    users: dict[tuple[str, int], list[Event]] = {}
    items: dict[tuple[str, int], list[int]] = {}
    hops: dict[tuple[str, int], int] = {}
    for user, e in events:
        users.setdefault((user, e.event_time_ms // WINDOW_MS), []).append(e)
        if e.event_type in cfg.engagement_type_values:
            items.setdefault((e.item_id, e.event_time_ms // WINDOW_MS), []).append(e.event_time_ms)
            first_end = e.event_time_ms - e.event_time_ms % cfg.trending_slide_ms + cfg.trending_slide_ms
            for end in range(first_end, first_end + cfg.trending_window_ms, cfg.trending_slide_ms):
                hops[(e.item_id, end)] = hops.get((e.item_id, end), 0) + 1
    rng = random.Random(3)
    out = []
    for (user, w), evs in users.items():
        evs = rng.sample(evs, len(evs))  # ARRAY_AGG order is not event-time order
        cols = [",".join(str(e.event_time_ms) for e in evs), ",".join(_h(e.event_id) for e in evs),
                ",".join(_h(e.item_id) for e in evs), ",".join(str(e.event_type) for e in evs)]
        out.append(((w + 1) * WINDOW_MS, f"u {_h(user)} {(w + 1) * WINDOW_MS} {' '.join(cols)}"))
    for (item, w), times in items.items():
        out.append(((w + 1) * WINDOW_MS, f"i {_h(item)} {(w + 1) * WINDOW_MS} {','.join(map(str, times))} -1"))
    for (item, end), count in hops.items():
        out.append((end, f"i {_h(item)} {end} -1 {count}"))
    return sorted(out, key=lambda r: r[0])


def run_java(s: StreamingSettings, lines: list[str], tmp_path: Path, classpath: str
             ) -> list[tuple[str, str, int, bytes]]:
    spec = tmp_path / "spec.txt"
    spec.write_text(spec_text(s, *testkit.fresh_layouts(s), kafka=False))
    catalog = [f"g {_h(item)} {','.join(_h(g) for g in gs)}" for item, gs in CATALOG.items()]
    proc = subprocess.run(["java", "-cp", classpath, "io.hybridrec.streaming.EntityFeaturesDriver", str(spec)],
                          input="\n".join([*catalog, *lines]) + "\n", capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = []
    for line in proc.stdout.splitlines():
        view, entity, version, payload = line.split(" ")
        out.append((view, bytes.fromhex(entity).decode(), int(version), bytes.fromhex(payload)))
    return out


def to_value(dtype: str, v: object) -> Value:
    """A feature value as Feast's protobuf classes hold it for the view's dtype (the bytes Feast writes)."""
    lists = {"Array(String)": ("string_list_val", StringList), "Array(Int64)": ("int64_list_val", Int64List),
             "Array(Float64)": ("double_list_val", DoubleList), "Array(Float32)": ("float_list_val", FloatList)}
    if dtype in lists:
        name, cls = lists[dtype]
        return Value(**{name: cls(val=v)})
    return Value(int64_val=v) if dtype == "Int64" else Value(double_val=v)


def decode_value(raw: bytes) -> object:
    v = Value.FromString(raw)
    kind = v.WhichOneof("val")
    if kind is None:
        return []
    got = getattr(v, kind)
    return list(got.val) if kind.endswith("_list_val") else got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_java_operator_equals_reference(java_classpath: str, seed: int, tmp_path: Path) -> None:
    s = settings()
    events = random_events(seed)
    fed = rows(events, s)
    snapshots = run_java(s, [line for _, line in fed], tmp_path, java_classpath)
    assert len(snapshots) == len(fed)

    # Versions: max(window end, previous + 1) per entity, in row order.
    last: dict[tuple[str, str], int] = {}
    for (end, line), (view, entity, version, _) in zip(fed, snapshots, strict=True):
        key = (view, entity)
        assert version == max(end, last.get(key, 0) + 1), (line, version)
        assert view == (USER_FRESH_VIEW if line[0] == "u" else ITEM_FRESH_VIEW)
        last[key] = version

    newest = {(view, entity): (version, payload) for view, entity, version, payload in snapshots}
    exp_users, exp_items = reference_features(events, s, genres)
    config = repo_config(s)
    user_layout, item_layout = testkit.fresh_layouts(s)
    for view, layout, expected in ((USER_FRESH_VIEW, user_layout, exp_users),
                                   (ITEM_FRESH_VIEW, item_layout, exp_items)):
        join_key = "user_id" if view == USER_FRESH_VIEW else "item_id"
        for entity, features in expected.items():
            version, payload = newest[(view, entity)]
            redis_key, mapping = marshal.loads(payload)
            assert redis_key == _redis_key(config.project, EntityKey(
                join_keys=[join_key], entity_values=[Value(string_val=entity)]), entity_key_serialization_version=3)
            ts = Timestamp(seconds=version // 1000, nanos=version % 1000 * 1_000_000).SerializeToString()
            assert mapping.pop(layout.ts_field) == ts
            assert set(mapping) == {h for _, _, h in layout.fields}
            got = {name: decode_value(mapping[h]) for name, _, h in layout.fields}
            assert mismatches(got, features, rel=1e-6) == [], (view, entity)
            # The bytes are those Feast's protobuf classes write: of the reference value for exact features, of
            # the decoded value for floats (same wire format, values checked within rel above).
            for name, dtype, h in layout.fields:
                value = got[name] if "Float" in dtype else features[name]
                assert mapping[h] == to_value(dtype, value).SerializeToString(), name
    assert len(exp_users) == len(USERS) and len(exp_items) >= 25
