"""The offline baselines on tiny hand-made worlds: each finds what its idea says it should."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.baselines import CoOccurrence, Ease, ImplicitALS, Popularity, Training, top_k
from hybridrec.contract import archive_table

T0 = 1_700_006_400_000


def _training(sequences: dict[str, list[str]]) -> Training:
    rows = [
        {"event_id": f"{u}-{n}", "user_id": u, "item_id": i, "event_type": "PLAY", "event_time_ms": T0 + n}
        for u, seq in sequences.items()
        for n, i in enumerate(seq)
    ]
    rows.append(
        {"event_id": "imp", "user_id": "u0", "item_id": "shown", "event_type": "IMPRESSION", "event_time_ms": T0}
    )
    rows.sort(key=lambda r: (r["event_time_ms"], r["event_id"]))
    return Training.from_table(archive_table(rows))


# two taste clusters: a-items go together, b-items go together; "pop" is everyone's
CLUSTERS = {f"u{n}": (["a1", "a2", "a3", "pop"] if n % 2 else ["b1", "b2", "b3", "pop"]) for n in range(12)}


def test_training_keeps_engagements_only_in_stream_order() -> None:
    train = _training({"u0": ["x", "y", "x"], "u1": ["y"]})
    assert train.items == ["x", "y"] and "shown" not in train.index
    assert train.sequences["u0"] == [0, 1, 0] and train.counts.tolist() == [2.0, 2.0]
    assert train.encode(["y", "unknown", "x"]) == [1, 0]


def test_popularity_ranks_by_count_and_never_returns_what_the_user_holds() -> None:
    train = _training({"u0": ["x", "y"], "u1": ["y", "z"], "u2": ["y"]})
    m = Popularity()
    m.fit(train)
    assert top_k(m, train, [[], [train.index["y"]]], 2) == [["y", "x"], ["x", "z"]]


@pytest.mark.parametrize(
    "method",
    [Ease(lam=1.0, min_count=1), ImplicitALS(factors=4, reg=0.1, iters=10), CoOccurrence(window=3, last=2)],
    ids=["ease", "als", "cooccurrence"],
)
def test_item_models_complete_a_cluster(method: object) -> None:
    train = _training(CLUSTERS)
    method.fit(train)  # type: ignore[attr-defined]
    a1, b1, b2 = (train.index[i] for i in ("a1", "b1", "b2"))
    got = top_k(method, train, [[a1], [b1, b2]], 2)  # type: ignore[arg-type]
    assert set(got[0]) <= {"a2", "a3", "pop"} and set(got[0]) & {"a2", "a3"}, got
    assert got[1][0] in {"b3", "pop"} and "a1" not in got[1], got


def test_ease_leaves_rare_items_out_of_the_model() -> None:
    train = _training({**CLUSTERS, "odd": ["rare", "a1"]})
    m = Ease(lam=1.0, min_count=2)
    m.fit(train)
    scores = m.scores([[train.index["a1"]]])
    assert np.isneginf(scores[0, train.index["rare"]]) and np.isfinite(scores[0, train.index["a2"]])
    assert "rare" not in top_k(m, train, [[train.index["a1"]]], 10)[0]


def test_als_fold_in_needs_no_training_row_for_the_user() -> None:
    """A user the training never saw gets a vector from their events alone (fold-in), in their cluster."""
    train = _training(CLUSTERS)
    m = ImplicitALS(factors=4, reg=0.1, iters=10)
    m.fit(train)
    s = m.scores([[train.index["b1"], train.index["b3"]]])[0]
    assert s[train.index["b2"]] > s[train.index["a2"]]
    assert m.scores([[]]).shape == (1, train.n_items) and not np.any(m.scores([[]]))


def test_cooccurrence_weights_recent_items_more() -> None:
    train = _training(CLUSTERS)
    m = CoOccurrence(window=3, last=2, decay=0.1)
    m.fit(train)
    s = m.scores([[train.index["a1"], train.index["b1"]]])[0]  # b1 is the newest
    assert s[train.index["b2"]] > s[train.index["a2"]] > 0
