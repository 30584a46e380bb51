"""Spark transforms on tiny hand-made frames: dedupe, genre vectors, as-of strictness, point-in-time
training examples (no leakage), batch features."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession

from batch import transforms as tr
from hybridrec.contract import GENRES, genre_vector

POSITIVE = ("PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS")
RAW_SCHEMA = (
    "event_id string, user_id string, item_id string, event_type string, value double, "
    "event_time_ms bigint, surface string, position int, request_id string, variant string, "
    "device string, country string, event_date string, event_hour string"
)


def _raw(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    full = [
        (eid, u, i, et, float(v), t, "home", 0, "", "", "TV", "NL", "2023-11-14", f"{h:02d}")
        for eid, u, i, et, v, t, h in rows
    ]
    return spark.createDataFrame(full, RAW_SCHEMA)


def _events(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return tr.clean_events(_raw(spark, [(*r, 0) for r in rows]), 0, 10**15, POSITIVE)


def _catalog(spark: SparkSession, items: dict[str, list[str]]) -> DataFrame:
    return spark.createDataFrame(
        [(i, f"t{i}", g, 2000) for i, g in items.items()],
        "item_id string, title string, genres array<string>, year int",
    )


def test_clean_dedupes_by_event_id_keeping_first_copy_and_applies_window(spark: SparkSession) -> None:
    raw = _raw(
        spark,
        [
            ("e1", "u", "a", "PLAY", 1, 1000, 0),
            ("e1", "u", "a", "PLAY", 1, 1000, 5),  # duplicate filed again later
            ("e2", "u", "b", "RATING", 4, 2000, 0),
            ("e3", "u", "c", "IMPRESSION", 0, 5000, 0),  # outside the window
            ("e4", "", "c", "PLAY", 1, 1500, 0),  # no user
        ],
    )
    out = tr.clean_events(raw, 0, 5000, POSITIVE).orderBy("event_id").collect()
    assert [r["event_id"] for r in out] == ["e1", "e2"]
    assert out[1]["engaged"] and out[1]["is_rating"]


def test_genre_vectors_match_the_shared_contract(spark: SparkSession) -> None:
    items = {"a": ["Comedy", "Drama"], "b": [], "c": ["Children's", "Nope"]}
    got = {r["item_id"]: r["genre_vec"] for r in tr.genre_vectors(_catalog(spark, items)).collect()}
    for item, genres in items.items():
        assert got[item] == pytest.approx(genre_vector(genres)), item


def test_asof_join_is_strictly_before(spark: SparkSession) -> None:
    state = spark.createDataFrame(
        [("k", 10, "a", 1), ("k", 20, "b", 2), ("k", 20, "c", 3)], "key string, state_ms long, state_tb string, v long"
    )
    queries = spark.createDataFrame(
        [("k", 5), ("k", 10), ("k", 11), ("k", 20), ("k", 21), ("x", 30)], "key string, t long"
    )
    got = {(r["key"], r["t"]): r["v"] for r in tr.asof_join(queries, state, ["key"], "t").collect()}
    assert got == {("k", 5): None, ("k", 10): None, ("k", 11): 1, ("k", 20): 1, ("k", 21): 3, ("x", 30): None}


def _pit_world(spark: SparkSession, with_future: bool) -> tuple[DataFrame, DataFrame, DataFrame]:
    catalog = _catalog(spark, {"old": ["Comedy"], "target": ["Drama"], "future": ["Horror"], "n": ["War"]})
    rows = [
        (
            "p1",
            "u",
            "old",
            "PLAY",
            1,
            1_000,
        ),
        ("p2", "u", "old", "RATING", 2, 2_000),
        ("o1", "v", "target", "PLAY", 1, 3_000),  # another user's earlier event on the item
        ("label", "u", "target", "RATING", 5, 10_000),  # the labelled example
        ("imp1", "u", "n", "IMPRESSION", 0, 9_000),  # impression never followed by engagement
        ("imp2", "u", "old", "IMPRESSION", 0, 9_500),  # impression followed by engagement at 11 000
        ("p3", "u", "old", "PLAY", 1, 11_000),
    ]
    if with_future:  # events after the label: they must change nothing about its features
        rows += [
            ("f1", "u", "future", "RATING", 1, 10_001),
            ("f2", "u", "future", "PLAY", 1, 12_000),
            ("f3", "w", "target", "PLAY", 1, 10_500),
            ("f4", "w", "target", "RATING", 1, 10_000),
        ]
    events = _events(spark, rows)
    return events, catalog, tr.genre_vectors(catalog)


def _label_row(spark: SparkSession, with_future: bool) -> tuple[dict, list]:
    events, catalog, genres = _pit_world(spark, with_future)
    prior = tr.item_counts(events.filter("event_time_ms < 5000"))
    q = tr.labelled_queries(events, catalog.select("item_id"), prior, 5_000, 20_000, 1, seed=3)
    feats = tr.attach_features(
        q, tr.user_state(events, genres, catalog), tr.item_state(events), tr.global_state(events), genres, catalog
    )
    rows = [r.asDict() for r in feats.collect()]
    label = next(r for r in rows if r["source"] == "positive" and r["item_id"] == "target")
    return label, rows


@pytest.fixture(scope="module")
def labelled(spark: SparkSession) -> dict[bool, tuple[dict, list]]:
    """The labelled example with and without events after it (computed once for the module)."""
    return {future: _label_row(spark, with_future=future) for future in (True, False)}


def test_training_examples_are_point_in_time_correct(labelled: dict[bool, tuple[dict, list]]) -> None:
    label, rows = labelled[True]
    # user: only p1, p2 (and the impressions at 9 000 / 9 500) happened before 10 000
    assert label["u_n_events"] == 4
    assert label["u_n_ratings"] == 1 and label["u_rating_sum"] == pytest.approx(2.0)
    assert label["u_genre_sum"][GENRES.index("Comedy")] == pytest.approx(2.0)
    assert label["u_genre_sum"][GENRES.index("Horror")] == 0.0
    assert label["u_recent_items"] == ["old", "old"]
    # item: only v's play at 3 000 (w's rating at exactly 10 000 is not strictly before)
    assert label["i_n_engaged"] == 1 and label["i_n_ratings"] == 0
    assert label["g_n_engaged"] == 3
    assert label["engage"] == 1.0 and label["satisfaction"] == pytest.approx(1.0)
    # labels from later events only: imp1 is a negative, imp2 was followed by engagement so it is not one
    impressions = {r["item_id"]: r["engage"] for r in rows if r["source"] == "impression"}
    assert impressions == {"n": 0.0}


def test_future_events_do_not_change_features(labelled: dict[bool, tuple[dict, list]]) -> None:
    with_future, _ = labelled[True]
    without, _ = labelled[False]
    keys = [k for k in with_future if k.startswith(("u_", "i_", "g_"))]
    assert {k: with_future[k] for k in keys} == {k: without[k] for k in keys}


def test_batch_features_views(spark: SparkSession) -> None:
    events, catalog, genres = _pit_world(spark, with_future=False)
    users = {r["user_id"]: r for r in tr.user_batch_features(events, genres, 10_000).collect()}
    u = users["u"]
    assert u["n_events"] == 4 and u["n_ratings"] == 1 and u["mean_rating"] == pytest.approx(2.0)
    assert u["genre_profile"][GENRES.index("Comedy")] == pytest.approx(1.0)
    assert u["first_event_ms"] == 1_000 and u["active_days"] == 1
    # the run's own state table (all events, also those after as_of) gives the same view
    shared = tr.user_state(events, genres, catalog)
    reused = tr.user_batch_features(events, genres, 10_000, state=shared).collect()
    reused = {r["user_id"]: r for r in reused}
    assert reused == users
    items = {r["item_id"]: r for r in tr.item_batch_features(events, catalog, 10_000).collect()}
    assert items["old"]["popularity"] == pytest.approx(2 / 3)
    assert items["future"]["popularity"] == 0.0 and items["future"]["age_days"] == 0
    assert set(items) == {"old", "target", "future", "n"}


def test_user_state_folds_fresh_features_with_the_speed_layers_code(spark: SparkSession) -> None:
    """Every user event gets one state row (the user view reads every event type), its fresh features from the
    JVM fold: sessions split on a gap of more than 30 min between engagements, in event-time order whatever the
    input order; the session's genres are its mean genre vector, an item missing from the catalog counts as Other."""
    gap = 30 * 60_000
    rows = [
        ("b", "u", "a", "PLAY", 1, 1_000 + gap + 1),  # more than the gap after a: a new session
        ("a", "u", "a", "PLAY", 1, 1_000),
        ("h", "u", "b", "HIDE", 0, 2_000),  # not an engagement: no session, no recent item
        ("c", "u", "gone", "CLICK", 1, 1_000 + gap + 2),  # not in the catalog
        ("i", "u", "b", "IMPRESSION", 0, 1_000 + gap + 2),  # same time as c, after it by event id
        ("v", "v", "b", "IMPRESSION", 0, 5),  # a user with no engagement yet
    ]
    events = _events(spark, rows)
    catalog = _catalog(spark, {"a": ["Comedy"], "b": ["Horror", "Drama"]})
    state = tr.user_state(events, tr.genre_vectors(catalog), catalog)
    got = {r["state_tb"]: r for r in state.collect()}
    assert sorted(got) == sorted(r[0] for r in rows)
    comedy, other = GENRES.index("Comedy"), GENRES.index("Other")
    assert [got[e]["u_session_start_ms"] for e in "ahbci"] == [1_000, 1_000, 1_000 + gap + 1] + [1_000 + gap + 1] * 2
    assert got["h"]["u_recent_items"] == ["a"] and got["i"]["u_recent_items"] == ["gone", "a", "a"]
    assert got["b"]["u_session_genres"][comedy] == pytest.approx(1.0)
    assert got["c"]["u_session_genres"][comedy] == pytest.approx(0.5)
    assert got["c"]["u_session_genres"][other] == pytest.approx(0.5)
    assert got["v"]["u_session_start_ms"] is None and got["v"]["u_recent_items"] == []
    assert got["v"]["u_session_genres"] == [0.0] * len(GENRES)
