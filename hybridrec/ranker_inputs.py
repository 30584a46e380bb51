"""The ranker's raw user inputs and their order, built by one vectorised function that the batch layer
(training examples, evaluation) and serving (one request) both call, so the two cannot build them apart.

The model does its own transforms and normalisation from buffers (batch/ranker.py); what both sides must
agree on is the raw inputs: which columns, in which order, with which defaults. Each side only extracts its
columns (a Spark as-of frame, or one user's feature-store row) and hands them here as arrays of one row per
example. ``tests/unit/test_ranker_inputs.py`` builds the same state both ways and compares the tensors.
"""

from __future__ import annotations

import numpy as np

from hybridrec.contract import GENRES

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
N_GENRES = len(GENRES)
INPUT_ORDER = (
    "user_num",
    "user_genres",
    "item_num",
    "item_genres",
    "session_genres",
    "user_vec",
    "item_vec",
    "recent_vec",
    "surface",
    "device",
    "hour",
)
USER_NUM = ("n_events", "n_ratings", "mean_rating", "tenure_days")
ITEM_NUM = ("popularity", "n_ratings", "mean_rating", "age_days", "year")
USER_INPUTS = ("user_num", "user_genres", "session_genres", "user_vec", "recent_vec", "hour")


def normalise_rows(m: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1 (all-zero rows stay zero), float32."""
    m = np.asarray(m, dtype=np.float32)
    s = m.sum(1, keepdims=True)
    return np.divide(m, s, out=np.zeros_like(m), where=s > 0)


def user_inputs(
    *,
    query_ms: np.ndarray,
    n_events: np.ndarray,
    n_ratings: np.ndarray,
    mean_rating: np.ndarray,
    first_ms: np.ndarray,
    last_ms: np.ndarray,
    genre_mass: np.ndarray,
    session_genre_mass: np.ndarray,
    user_vecs: np.ndarray,
    recent_vecs: np.ndarray,
    session_gap_ms: int,
) -> dict[str, np.ndarray]:
    """The user half of the ranker's inputs, one row per example (``first_ms``/``last_ms`` -1 = unknown;
    genre masses in any scale, normalised here; ``recent_vecs`` the mean vector of the recent items)."""
    q = np.asarray(query_ms, dtype=np.int64)
    first = np.asarray(first_ms, dtype=np.int64)
    last = np.asarray(last_ms, dtype=np.int64)
    tenure = np.where(first >= 0, (q - first) / DAY_MS, 0.0)
    in_session = (last >= 0) & (q - last < session_gap_ms)
    return {
        "user_num": np.stack(
            [
                np.asarray(n_events, dtype=np.float64),
                np.asarray(n_ratings, dtype=np.float64),
                np.asarray(mean_rating, dtype=np.float64),
                tenure,
            ],
            1,
        ).astype(np.float32),
        "user_genres": normalise_rows(genre_mass),
        "session_genres": normalise_rows(session_genre_mass) * in_session[:, None].astype(np.float32),
        "user_vec": np.asarray(user_vecs, dtype=np.float32),
        "recent_vec": np.asarray(recent_vecs, dtype=np.float32),
        "hour": ((q // HOUR_MS) % 24).astype(np.float32),
    }
