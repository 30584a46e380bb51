"""Training and serving build the ranker's user inputs with one function: the same as-of state, extracted by
each side from its own storage (the batch layer's as-of frame, serving's feature-store row), gives identical
tensors, and both name the same inputs in the same order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batch import ranker
from batch.embeddings import Embeddings
from hybridrec import fresh_features
from hybridrec import ranker_inputs as ri
from serving.features.base import UserFeatures
from serving.model import inputs as mi

T = 1_700_000_000_000
GAP = fresh_features.session_gap_ms()


def _states() -> list[dict]:
    rng = np.random.default_rng(3)
    genre = rng.random(ri.N_GENRES).astype(np.float32)
    return [
        # a returning user in an open session with recent items (one unknown to ALS)
        {
            "user_id": "u1",
            "query_ms": T,
            "n_events": 40,
            "n_ratings": 10,
            "rating_sum": 37.0,
            "first": T - 90 * ri.DAY_MS,
            "last": T - 60_000,
            "genre": genre,
            "session": genre[::-1].copy(),
            "recent": ["i1", "i2", "zz"],
        },
        # session closed; no ratings; not in the ALS model
        {
            "user_id": "nobody",
            "query_ms": T + 7_200_000,
            "n_events": 3,
            "n_ratings": 0,
            "rating_sum": 0.0,
            "first": T - ri.DAY_MS,
            "last": T - 2 * GAP,
            "genre": genre,
            "session": genre,
            "recent": ["i3"],
        },
        # nothing known at all
        {
            "user_id": "u2",
            "query_ms": T,
            "n_events": 0,
            "n_ratings": 0,
            "rating_sum": 0.0,
            "first": None,
            "last": None,
            "genre": np.zeros(ri.N_GENRES, np.float32),
            "session": np.zeros(ri.N_GENRES, np.float32),
            "recent": [],
        },
    ]


def test_batch_and_serving_build_identical_user_tensors() -> None:
    rng = np.random.default_rng(0)
    emb = Embeddings(
        ["u1", "u2"],
        rng.normal(size=(2, 8)).astype(np.float32),
        ["i1", "i2", "i3"],
        rng.normal(size=(3, 8)).astype(np.float32),
    )
    states = _states()
    frame = pd.DataFrame(
        [
            {
                "user_id": s["user_id"],
                "query_ms": s["query_ms"],
                "u_n_events": s["n_events"],
                "u_n_ratings": s["n_ratings"],
                "u_rating_sum": s["rating_sum"],
                "u_first_ms": s["first"],
                "u_last_ms": s["last"],
                "u_genre_sum": s["genre"],
                "u_session_genres": s["session"],
                "u_recent_items": s["recent"],
            }
            for s in states
        ]
    )
    batch = ranker.user_inputs(frame, emb, GAP)

    def item_vecs_of(ids: list[str]) -> np.ndarray:
        return emb.item_matrix_for(list(ids))

    for row, s in enumerate(states):
        f = UserFeatures(
            recent_items=tuple(s["recent"]),
            session_genres=tuple(s["session"].tolist()),
            last_event_ms=s["last"],
            genre_profile=tuple(s["genre"].tolist()),
            n_events=s["n_events"],
            n_ratings=s["n_ratings"],
            mean_rating=s["rating_sum"] / s["n_ratings"] if s["n_ratings"] else 0.0,
            first_event_ms=s["first"],
        )
        serving = mi.user_side(f, emb.user_matrix_for([s["user_id"]])[0], item_vecs_of, s["query_ms"], GAP)
        assert set(serving) == set(batch) == set(ri.USER_INPUTS)
        for name in ri.USER_INPUTS:
            assert serving[name].dtype == batch[name].dtype == np.float32, name
            np.testing.assert_array_equal(serving[name][0], batch[name][row], err_msg=name)


def test_both_sides_name_the_same_inputs_in_the_same_order() -> None:
    assert ranker.INPUT_ORDER is ri.INPUT_ORDER is mi.INPUT_ORDER
    assert tuple(n for n, _, _ in ranker.USER_NUM) == ri.USER_NUM == mi.USER_NUM
    assert tuple(n for n, _, _ in ranker.ITEM_NUM) == ri.ITEM_NUM == mi.ITEM_NUM


@pytest.mark.parametrize("gap", [1, GAP])
def test_the_session_is_open_only_within_the_gap(gap: int) -> None:
    out = ri.user_inputs(
        query_ms=np.array([T]),
        n_events=np.zeros(1),
        n_ratings=np.zeros(1),
        mean_rating=np.zeros(1),
        first_ms=np.array([-1]),
        last_ms=np.array([T - 1000]),
        genre_mass=np.ones((1, ri.N_GENRES)),
        session_genre_mass=np.ones((1, ri.N_GENRES)),
        user_vecs=np.zeros((1, 4)),
        recent_vecs=np.zeros((1, 4)),
        session_gap_ms=gap,
    )
    assert out["session_genres"].sum() == pytest.approx(1.0 if gap > 1000 else 0.0)
    assert out["user_genres"].sum() == pytest.approx(1.0) and out["user_num"][0, 3] == 0.0
