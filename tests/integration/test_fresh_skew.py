"""Training/serving skew of the fresh features through the real services: a synthetic replay goes through Kafka
and the speed-layer job (Flink) into Redis chunk by chunk, and after each chunk every user's fresh features are
read back through Feast: what serving would read at that moment. Then the batch layer reads the job's Parquet
archive and builds the training rows' user features for the same (user, time) pairs with its point-in-time join
(``batch.transforms.attach_user_features``, what ``training_examples`` calls). The two must be equal: ≥ 1,000 pairs,
with sessions that split on the declared gap and every event type.

Where ``tests/unit/batch/test_batch_fresh_skew.py`` holds the batch layer to the Python reference of the
declarations, this holds it to what the speed layer actually wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import Row, SparkSession

from batch import io
from batch import transforms as tr
from batch.config import BatchConfig
from hybridrec.config import Settings, get_settings
from hybridrec.contract import GENRES
from hybridrec.feature_store import apply_definitions
from hybridrec.kafka.topics import ensure_topics
from hybridrec_pb.events_pb2 import InteractionEvent
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # the job's start-up and 60 chunks: 1.7-3.5 min

USERS = 20
CHUNKS = 60  # × USERS = 1,200 (user, time) pairs
EVENTS_PER_CHUNK = 25
# Fresh features the ranker's training rows carry (batch column) and the speed layer's name of each.
TRAINED = {
    "u_recent_items": "recent_items",
    "u_session_start_ms": "session_start_ms",
    "u_session_genres": "session_genres",
    "u_last_ms": "last_event_ms",
}


def _chunks(events: list[InteractionEvent]) -> list[list[InteractionEvent]]:
    """Consecutive runs of about EVENTS_PER_CHUNK events in time order, cut only where time moves on (a query
    just after a chunk then sees exactly the events produced so far)."""
    out: list[list[InteractionEvent]] = [[]]
    for e in events:
        if len(out[-1]) >= EVENTS_PER_CHUNK and e.event_time_ms > out[-1][-1].event_time_ms:
            out.append([])
        out[-1].append(e)
    return out


def _speed(row: dict[str, object]) -> dict[str, object]:
    return {
        "recent_items": list(row["recent_items"] or []),
        "session_start_ms": row["session_start_ms"] or 0,
        "session_genres": list(row["session_genres"] or []),
        "last_event_ms": row["last_event_ms"] or 0,
    }


def _training(row: Row, n_genres: int) -> dict[str, object]:
    """A training row's user features under the speed layer's names."""
    return {
        "recent_items": list(row["u_recent_items"] or []),
        "session_start_ms": row["u_session_start_ms"] or 0,
        "session_genres": list(row["u_session_genres"] or [0.0] * n_genres),
        "last_event_ms": row["u_last_ms"] or 0,
    }


@pytest.mark.timeout(1500)
def test_training_rows_equal_what_the_speed_layer_wrote(
    services: Settings, spark: SparkSession, tmp_path: Path
) -> None:
    # ~2 min between events, ~40 min between a user's: many gaps beyond the 30 min session gap, many within it.
    world = testkit.make_world(
        CHUNKS * EVENTS_PER_CHUNK, n_users=USERS, n_items=30, seed=23, step_ms=240_000, disorder_ms=0
    )
    chunks = _chunks(world.events)
    assert len(chunks) >= CHUNKS - 1
    testkit.build_jar()
    stream = testkit.isolated_streaming_settings(get_settings(), tmp_path / "stream", bounded=False)
    ensure_topics(stream.kafka)
    testkit.publish_catalog(stream, world.genres)
    apply_definitions(stream)  # readable before the job's start-up has registered the views
    job = testkit.JobProcess(stream, tmp_path / "job")
    users = sorted({e.user_id for e in world.events})
    snapshots: list[tuple[str, int, dict[str, object]]] = []
    try:
        newest: dict[str, int] = {}
        for n, chunk in enumerate(chunks):
            testkit.produce(stream, chunk)
            for e in chunk:
                newest[e.user_id] = e.event_time_ms

            def written() -> bool:
                got, _ = testkit.read_features(stream, sorted({e.user_id for e in chunk}), [])  # noqa: B023
                return all(row["last_event_ms"] == newest[u] for u, row in got.items())

            # the first chunk waits for the job's start-up too
            assert testkit.wait_for(written, 900 if n == 0 else 60, every_s=0.1), job.tail()
            got, _ = testkit.read_features(stream, users, [])
            at = chunk[-1].event_time_ms + 1
            snapshots += [(u, at, _speed(row)) for u, row in got.items()]
        assert testkit.wait_for(lambda: testkit.read_archive(stream).num_rows >= len(world.events), 120), job.tail()
    finally:
        job.kill()
        testkit.discard(stream)

    times = [e.event_time_ms for e in world.events]
    day = io.day_of
    raw = io.read_archive(spark, stream.paths.lake_dir, day(min(times)), day(max(times)))
    events = tr.clean_events(raw, 0, 10**15, BatchConfig().eval.positive_event_types)
    catalog = spark.createDataFrame(
        [(i, i, list(g), 2000) for i, g in world.genres.items()],
        "item_id string, title string, genres array<string>, year int",
    )
    ustate = tr.user_state(events, tr.genre_vectors(catalog), catalog)
    queries = spark.createDataFrame([(u, at) for u, at, _ in snapshots], "user_id string, query_ms long")
    rows = tr.attach_user_features(queries, ustate).select("user_id", "query_ms", *TRAINED).collect()
    n_genres = len(GENRES)
    training = {(r["user_id"], r["query_ms"]): _training(r, n_genres) for r in rows}

    assert len(snapshots) >= 1_000
    wrong = []
    for user, at, speed in snapshots:
        train = training[(user, at)]
        for name, value in speed.items():
            if name == "session_genres" and not value:
                value = [0.0] * n_genres
            if train[name] != pytest.approx(value, abs=1e-5):
                wrong.append(f"{user}@{at} {name}: training {train[name]} speed layer {value}")
    sessions = {s["session_start_ms"] for _, _, s in snapshots if s["session_start_ms"]}
    assert len(sessions) > 50, "the replay has too few sessions to tell the rules apart"
    assert not wrong, f"{len(wrong)} differences over {len(snapshots)} pairs:\n" + "\n".join(wrong[:20])
