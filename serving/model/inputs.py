"""The ranker's inputs built exactly as ``feature_schema.json`` describes them (pure numpy).

The model does its own transforms and normalisation from buffers, so serving only has to assemble the raw
inputs in the schema's order; :data:`INPUT_ORDER` and the column names are checked against every schema at
load, and a version whose schema differs is refused rather than fed mis-ordered tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hybridrec.contract import GENRES
from serving.features.base import ItemFeatures, UserFeatures

DAY_MS = 86_400_000
N_GENRES = len(GENRES)
INPUT_ORDER = ("user_num", "user_genres", "item_num", "item_genres", "session_genres", "user_vec", "item_vec",
               "recent_vec", "surface", "device", "hour")
USER_NUM = ("n_events", "n_ratings", "mean_rating", "tenure_days")
ITEM_NUM = ("popularity", "n_ratings", "mean_rating", "age_days", "year")


class SchemaMismatch(ValueError):
    """The model's feature schema is not the one this ranker knows how to fill."""


def check_schema(schema: dict) -> None:
    names = tuple(i["name"] for i in schema.get("inputs", ()))
    if names != INPUT_ORDER:
        raise SchemaMismatch(f"model inputs {names} differ from the ranker's {INPUT_ORDER}")
    cols = {i["name"]: tuple(c["name"] for c in i.get("columns", ())) for i in schema["inputs"]}
    if cols["user_num"] != USER_NUM or cols["item_num"] != ITEM_NUM:
        raise SchemaMismatch(f"numeric columns {cols['user_num']}/{cols['item_num']} differ from "
                             f"{USER_NUM}/{ITEM_NUM}")


def normalised(v: Sequence[float] | None, width: int = N_GENRES) -> np.ndarray:
    out = np.zeros(width, dtype=np.float32)
    if v is not None and len(v) == width:
        out[:] = np.asarray(v, dtype=np.float32)
        s = float(out.sum())
        out = out / s if s > 0 else np.zeros(width, dtype=np.float32)
    return out


def user_side(f: UserFeatures | None, user_vec: np.ndarray, item_vecs_of: Callable[[Sequence[str]], np.ndarray],
              now_ms: int, session_gap_ms: int) -> dict[str, np.ndarray]:
    """The user half of one request's inputs (shape ``[1, ...]``): as training built it from the as-of state."""
    rank = user_vec.shape[0]
    f = f or UserFeatures()
    tenure = (now_ms - f.first_event_ms) / DAY_MS if f.first_event_ms is not None else 0.0
    open_session = f.last_event_ms is not None and now_ms - f.last_event_ms < session_gap_ms
    recent = list(f.recent_items)
    recent_vec = item_vecs_of(recent).mean(0) if recent else np.zeros(rank, dtype=np.float32)
    return {
        "user_num": np.array([[f.n_events, f.n_ratings, f.mean_rating, tenure]], dtype=np.float32),
        "user_genres": normalised(f.genre_profile)[None, :],
        "session_genres": (normalised(f.session_genres) if open_session else np.zeros(N_GENRES, np.float32))[None],
        "user_vec": user_vec.astype(np.float32)[None, :],
        "recent_vec": recent_vec.astype(np.float32)[None, :],
        "hour": np.array([(now_ms // 3_600_000) % 24], dtype=np.float32),
    }


def genre_vector(genres: Sequence[str]) -> np.ndarray:
    from hybridrec.contract import genre_vector as gv

    return np.asarray(gv(list(genres)), dtype=np.float32)


def item_matrices(item_ids: Sequence[str], feats: dict[str, ItemFeatures],
                  fallback_genres: dict[str, Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
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
