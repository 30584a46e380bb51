"""The JVM fresh-feature core (``EntityState`` and the aggregation kinds, run by the job's operator) equals the
from-definition reference and writes the bytes Feast reads: seeded random events arriving out of order (some past
the lateness bound), watermarks moving, snapshots taken along the way, every state written and read back through
the state codec between events. Driven through the test jar's ``FreshFoldDriver``."""

from __future__ import annotations

import dataclasses
import marshal
import random
import subprocess
from pathlib import Path

import pytest
from feast.protos.feast.types.Value_pb2 import DoubleList, FloatList, Int64List, StringList, Value
from google.protobuf.timestamp_pb2 import Timestamp

from hybridrec import fresh_features as ff
from hybridrec.config import get_settings
from hybridrec.contract import genre_vector
from hybridrec.feature_store import online_key, repo_config
from streaming import jvm
from streaming.config import StreamingSettings, streaming_settings
from streaming.java_features import spec_text
from tests.support import streaming_kit as testkit
from tests.support.fresh_reference import Event, accepted, mismatches, view_features

USERS = ["u0", "u1", "u2", "ü-😀"]
CATALOG = {
    f"i{k}": [["Action", "Drama"], ["Comedy"], [], ["Children's", "Weird"], ["Drama", "Drama", "War"]][k % 5]
    for k in range(25)
}  # i25..i29 are not in the catalog: genre Other
LATENESS_MS = 1_800_000
MAX_BUFFERED = 12


def genres(item: str) -> list[float]:
    return genre_vector(CATALOG.get(item, ()))


def small_views() -> tuple[ff.FreshView, ...]:
    """The production views with small parameters, so that truncation, session splits and windows all happen."""
    small = {
        ff.LastN: {"n": 5},
        ff.Session: {"gap_ms": 600_000, "max_items": 2},
        ff.DecayedGenreSum: {"half_life_ms": 3_600_000},
        ff.DecayedCount: {"half_life_ms": 1_800_000},
        ff.Trending: {"window_ms": 1_800_000, "slide_ms": 300_000},
    }

    def shrink(agg: ff.Aggregation) -> ff.Aggregation:
        if isinstance(agg, ff.DistinctLastN):
            return dataclasses.replace(agg, n=3)
        return dataclasses.replace(agg, **small.get(type(agg), {}))

    return tuple(dataclasses.replace(v, aggregations=tuple(shrink(a) for a in v.aggregations)) for v in ff.VIEWS)


def arrivals(seed: int, n: int = 600) -> list[tuple[str, Event]]:
    """Events in arrival order: each up to a few minutes out of order, and one in 25 arriving hours late."""
    rng = random.Random(seed)
    t = 1_700_000_000_000
    made = []
    for k in range(n):
        t += rng.choice([1_000, 30_000, 200_000, 900_000, 4_000_000])
        user = rng.choice(USERS)
        made.append((user, Event(t, f"e{k}", f"i{rng.randrange(30)}", rng.randrange(1, 8), user)))

    def arrival(k: int, e: Event) -> float:
        return e.event_time_ms + (7_200_000 if k % 25 == 7 else rng.randrange(400_000))

    order = sorted(range(n), key=lambda k: arrival(k, made[k][1]))
    return [made[k] for k in order]


def settings() -> StreamingSettings:
    return streaming_settings(get_settings(), allowed_lateness_ms=LATENESS_MS, max_buffered_events=MAX_BUFFERED)


def _h(text: str) -> str:
    return text.encode().hex()


def run_java(
    s: StreamingSettings, views: tuple[ff.FreshView, ...], lines: list[str], tmp_path: Path, classpath: str
) -> list[str]:
    spec = tmp_path / "spec.txt"
    spec.write_text(spec_text(s, testkit.fresh_layouts(s), kafka=False, views=views))
    catalog = [f"g {_h(item)} {','.join(_h(g) for g in gs)}" for item, gs in CATALOG.items()]
    proc = subprocess.run(
        ["java", "-cp", classpath, jvm.FRESH_FOLD_DRIVER, str(spec)],
        input="\n".join([*catalog, *lines]) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


def to_value(dtype: str, v: object) -> Value:
    """A feature value as Feast's protobuf classes hold it for the view's dtype (the bytes Feast writes)."""
    lists = {
        "Array(String)": ("string_list_val", StringList),
        "Array(Int64)": ("int64_list_val", Int64List),
        "Array(Float64)": ("double_list_val", DoubleList),
        "Array(Float32)": ("float_list_val", FloatList),
    }
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


@pytest.mark.parametrize(("seed", "small"), [(1, True), (2, True), (3, False)])
def test_java_core_equals_reference(java_classpath: str, seed: int, small: bool, tmp_path: Path) -> None:
    s = settings()
    views = small_views() if small else ff.VIEWS
    events = arrivals(seed)
    # The feed: each event to every view that reads its type, the watermark trailing the newest arrival by 2 s,
    # snapshots every 40 events and at the end (after the end-of-input watermark).
    lines: list[str] = []
    checkpoints: list[tuple[int, int | None]] = []  # (events arrived, watermark) at each snapshot
    newest = watermark = None
    for k, (user, e) in enumerate(events):
        for index, view in enumerate(views):
            if e.event_type in view.event_type_numbers:
                entity = user if view.join_key == "user_id" else e.item_id
                lines.append(
                    f"e {index} {_h(entity)} {_h(user)} {_h(e.event_id)} {_h(e.item_id)} {e.event_type} "
                    f"{e.event_time_ms}"
                )
        newest = max(newest or 0, e.event_time_ms)
        if k % 10 == 9:
            watermark = newest - 2_000
            lines.append(f"w {watermark}")
        if k % 40 == 39:
            lines.append("s")
            checkpoints.append((k + 1, watermark))
    end = 2**62
    lines += [f"w {end}", "s"]
    checkpoints.append((len(events), end))
    out = run_java(s, views, lines, tmp_path, java_classpath)

    config = repo_config(s)
    layouts = {layout.view: layout for layout in testkit.fresh_layouts(s)}
    late_java = {line.split(" ")[3] for line in out if line.startswith("late ")}
    late_expected: set[str] = set()
    for view in views:
        if view.order_sensitive:
            for user in USERS:
                mine = [e for u, e in events if u == user and e.event_type in view.event_type_numbers]
                late_expected |= {_h(e.event_id) for e in mine if e not in accepted(mine, LATENESS_MS, MAX_BUFFERED)}
    snaps = iter(out)
    versions: dict[tuple[str, str], int] = {}
    progresses: dict[tuple[str, str], int] = {}
    compared = 0
    for arrived, wm in checkpoints:
        so_far = events[:arrived]
        for line in snaps:
            if line == "end":
                break
            if not line.startswith("snap "):
                continue
            _, view_hex, entity_hex, version_text, payload_hex = line.split(" ")
            view = next(v for v in views if v.name == bytes.fromhex(view_hex).decode())
            entity = bytes.fromhex(entity_hex).decode()
            version = int(version_text)
            mine = [
                e
                for u, e in so_far
                if e.event_type in view.event_type_numbers
                and (u if view.join_key == "user_id" else e.item_id) == entity
            ]
            if view.order_sensitive:
                mine = accepted(mine, LATENESS_MS, MAX_BUFFERED)
            expected = view_features(view, mine, genres, wm)
            # Versions only grow, and never lag the entity's newest event.
            assert version > versions.get((view.name, entity), 0)
            assert version >= max(e.event_time_ms for e in mine)
            versions[(view.name, entity)] = version

            layout = layouts[view.name]
            redis_key, mapping = marshal.loads(bytes.fromhex(payload_hex))
            assert redis_key == online_key(config.project, view.join_key, entity)
            ts = Timestamp(seconds=version // 1000, nanos=version % 1000 * 1_000_000).SerializeToString()
            assert mapping.pop(layout.ts_field) == ts
            generation, progress = map(int, mapping.pop(layout.progress_field).split(b":"))
            assert generation == 0 and progress > progresses.get((view.name, entity), -1)
            progresses[(view.name, entity)] = progress
            assert set(mapping) == {h for _, _, h in layout.fields}
            got = {name: decode_value(mapping[h]) for name, _, h in layout.fields}
            assert mismatches(got, expected, rel=1e-6) == [], (view.name, entity, arrived)
            # The bytes are those Feast's protobuf classes write: of the reference value for exact features, of
            # the decoded value for floats (same wire format, values checked within rel above).
            for name, dtype, h in layout.fields:
                value = got[name] if "Float" in dtype else expected[name]
                assert mapping[h] == to_value(dtype, value).SerializeToString(), name
            compared += 1
    assert late_java == late_expected and late_expected, (sorted(late_java ^ late_expected), len(late_expected))
    assert compared > 300
