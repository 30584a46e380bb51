"""The ranker's inputs for serving, built exactly as ``feature_schema.json`` describes them (pure numpy).

The model does its own transforms and normalisation from buffers, so serving only has to assemble the raw
inputs in the schema's order. The user half is built by :func:`hybridrec.ranker_inputs.user_inputs`, the
function the batch layer trains with; :data:`INPUT_ORDER` and the column names are checked against every
schema at load, and a version whose schema differs is refused rather than fed mis-ordered tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hybridrec import ranker_inputs as ri
from hybridrec.ranker_inputs import INPUT_ORDER, ITEM_NUM, N_GENRES, USER_NUM
from serving.features.base import ItemFeatures, UserFeatures

__all__ = [
    "INPUT_ORDER",
    "ITEM_NUM",
    "N_GENRES",
    "USER_NUM",
    "SchemaMismatch",
    "check_schema",
    "genre_vector",
    "item_matrices",
    "user_side",
]


class SchemaMismatch(ValueError):
    """The model's feature schema is not the one this ranker knows how to fill."""


def check_schema(schema: dict) -> None:
    names = tuple(i["name"] for i in schema.get("inputs", ()))
    if names != INPUT_ORDER:
        raise SchemaMismatch(f"model inputs {names} differ from the ranker's {INPUT_ORDER}")
    cols = {i["name"]: tuple(c["name"] for c in i.get("columns", ())) for i in schema["inputs"]}
    if cols["user_num"] != USER_NUM or cols["item_num"] != ITEM_NUM:
        raise SchemaMismatch(f"numeric columns {cols['user_num']}/{cols['item_num']} differ from {USER_NUM}/{ITEM_NUM}")


def _genres(v: Sequence[float] | None) -> np.ndarray:
    """A stored genre vector as a (1, G) mass (zeros when absent or of another width)."""
    out = np.zeros((1, N_GENRES), dtype=np.float32)
    if v is not None and len(v) == N_GENRES:
        out[0] = np.asarray(v, dtype=np.float32)
    return out


def user_side(
    f: UserFeatures | None,
    user_vec: np.ndarray,
    item_vecs_of: Callable[[Sequence[str]], np.ndarray],
    now_ms: int,
    session_gap_ms: int,
) -> dict[str, np.ndarray]:
    """The user half of one request's inputs (shape ``[1, ...]``): as training built it from the as-of state (every
    item of ``recent_items``: training averages the same declared last N)."""
    f = f or UserFeatures()
    recent = list(f.recent_items)
    recent_vec = item_vecs_of(recent).mean(0) if recent else np.zeros(user_vec.shape[0], dtype=np.float32)
    return ri.user_inputs(
        query_ms=np.array([now_ms]),
        n_events=np.array([f.n_events]),
        n_ratings=np.array([f.n_ratings]),
        mean_rating=np.array([f.mean_rating]),
        first_ms=np.array([-1 if f.first_event_ms is None else f.first_event_ms]),
        last_ms=np.array([-1 if f.last_event_ms is None else f.last_event_ms]),
        genre_mass=_genres(f.genre_profile),
        session_genre_mass=_genres(f.session_genres),
        user_vecs=user_vec[None, :],
        recent_vecs=recent_vec[None, :],
        session_gap_ms=session_gap_ms,
    )


def genre_vector(genres: Sequence[str]) -> np.ndarray:
    from hybridrec.contract import genre_vector as gv

    return np.asarray(gv(list(genres)), dtype=np.float32)


def item_matrices(
    item_ids: Sequence[str], feats: dict[str, ItemFeatures], fallback_genres: dict[str, Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """``item_num`` and ``item_genres`` for every model item (zeros where the store has no row)."""
    num = np.zeros((len(item_ids), len(ITEM_NUM)), dtype=np.float32)
    gen = np.zeros((len(item_ids), N_GENRES), dtype=np.float32)
    for k, item in enumerate(item_ids):
        f = feats.get(item)
        if f is not None:
            num[k] = (f.popularity, f.n_ratings, f.mean_rating, f.age_days, f.year)
        genres = (f.genres if f is not None and f.genres else None) or fallback_genres.get(item)
        if genres:
            gen[k] = genre_vector(genres)
    return num, gen
