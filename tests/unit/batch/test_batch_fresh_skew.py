"""Training/serving skew of the fresh features: the batch layer's point-in-time user state (what training rows get,
folded by the speed layer's own JVM code called from Spark) equals the declared features
(``tests/support/fresh_reference.py``, the reference the JVM operator and the job's Redis rows are held to in
``tests/unit/streaming`` and ``tests/integration/streaming``) at 1,200 sampled (user, time) pairs of a synthetic
replay with sessions that split and every event type."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import SparkSession

from batch import transforms as tr
from hybridrec.fresh_features import ENGAGEMENT, USER_FRESH
from hybridrec_pb.events_pb2 import EventType
from tests.support import streaming_kit as testkit
from tests.support.fresh_reference import Event, view_features

RAW_SCHEMA = (
    "event_id string, user_id string, item_id string, event_type string, value double, "
    "event_time_ms bigint, surface string, position int, request_id string, variant string, "
    "device string, country string, event_date string, event_hour string"
)
PAIRS = 1_200


def test_training_rows_get_the_declared_fresh_features(spark: SparkSession) -> None:
    # ~2 min between a user's events on average: many gaps beyond the 30 min session gap, many within it.
    world = testkit.make_world(3_000, n_users=20, n_items=30, seed=17, step_ms=240_000, start_ms=1_700_000_000_000)
    raw = spark.createDataFrame(
        [
            (
                e.event_id,
                e.user_id,
                e.item_id,
                EventType.Name(e.event_type),
                float(e.value),
                e.event_time_ms,
                "home",
                0,
                "",
                "",
                "TV",
                "NL",
                "2023-11-14",
                "00",
            )
            for e in world.events
        ],
        RAW_SCHEMA,
    )
    events = tr.clean_events(raw, 0, 10**15, ENGAGEMENT)
    catalog = spark.createDataFrame(
        [(i, i, list(g), 2000) for i, g in world.genres.items()],
        "item_id string, title string, genres array<string>, year int",
    )
    state = tr.user_state(events, tr.genre_vectors(catalog), catalog)

    by_user: dict[str, list[Event]] = {}
    for user, e in world.pairs():
        by_user.setdefault(user, []).append(e)
    rng = random.Random(3)
    users = sorted(by_user)
    lo, hi = min(e.event_time_ms for e in world.events), max(e.event_time_ms for e in world.events)
    queries = []
    for _ in range(PAIRS):
        user = rng.choice(users)
        # half just after one of the user's events (where sessions and last-N change), half anywhere
        t = (
            rng.choice(by_user[user]).event_time_ms + rng.choice((1, 2))
            if rng.random() < 0.5
            else rng.randrange(lo, hi + 2)
        )
        queries.append((user, t))
    q = spark.createDataFrame(queries, "user_id string, query_ms long").dropDuplicates()
    got = tr.asof_join(q, state, ["user_id"], "query_ms").collect()
    assert len(got) >= 1_000

    wrong = []
    for row in got:
        before = [e for e in by_user[row["user_id"]] if e.event_time_ms < row["query_ms"]]
        want = view_features(USER_FRESH, before, world.genre_lookup)
        mine = {
            "recent_items": list(row["u_recent_items"] or []),
            "session_start_ms": row["u_session_start_ms"] or 0,
            "session_genres": list(row["u_session_genres"] or [0.0] * len(want["session_genres"])),
        }
        for name, value in mine.items():
            if value != pytest.approx(want[name], abs=1e-6):
                wrong.append(f"{row['user_id']}@{row['query_ms']} {name}: batch {value} declared {want[name]}")
    sessions = {r["u_session_start_ms"] for r in got if r["u_session_start_ms"]}
    assert len(sessions) > 50, "the replay has too few sessions to tell the rule apart"
    assert not wrong, f"{len(wrong)} of {len(got)} pairs differ:\n" + "\n".join(wrong[:20])
