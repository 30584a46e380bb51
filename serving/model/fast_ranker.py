"""The exported ranker's engagement score in numpy, with the item side of its first layer precomputed per item.

Why: the ranker (``MultiTaskRanker``, batch/ranker.py) starts with a linear layer over a concatenation of user
inputs, item inputs, (user, item) interactions and context, so that layer splits exactly into parts that
depend on the item only (computed once per item at load), on the request only (once per page) and on the
surface only (once per surface), plus the interaction parts, which are linear in the item's ALS and genre
vectors given the user: one ``(rank + genres) × hidden`` matmul per page. A page then pays that matmul, a
gather and the small later layers, instead of TorchScript's fixed ≈ 0.12 ms per call and its full first
layer over every (row, item) pair.

Serving never imports batch code, so this reads the exported module's parameters by name and repeats its
arithmetic. Nothing here is trusted on its own: :func:`build` returns None for a module whose parameters or
backbone are not the expected layout, and :func:`matches` compares it with the TorchScript forward on varied
inputs; the loader serves TorchScript whenever either fails (``serving/model/bundle.py``).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hybridrec.ranker_inputs import ITEM_NUM, N_GENRES, USER_NUM

log = logging.getLogger("hybridrec.serving")

N_DERIVED = 6  # genre_affinity, session_affinity, als_score, recent_similarity, has_session, has_recent
_BUFFERS = ("user_tf", "item_tf", "user_mean", "user_std", "item_mean", "item_std", "derived_mean", "derived_std")


def _transform(x: np.ndarray, tf: np.ndarray) -> np.ndarray:
    """The module's raw-input transform per column: 0 none, 1 log1p, 2 log(x + 1e-6) (negatives clamped)."""
    pos = np.maximum(x, np.float32(0))
    return np.where(tf == 1, np.log1p(pos), np.where(tf == 2, np.log(pos + np.float32(1e-6)), x)).astype(np.float32)


@dataclass(frozen=True)
class FastUser:
    """One request's share of the first layer: everything but the item and surface parts."""

    base: np.ndarray  # (h,) bias + user, session, hour and constant derived terms; device added per call
    q: np.ndarray  # (rank + genres, h + 1): item [vec | genres] → interaction terms; last column recent·item
    rnorm: float  # |recent_vec|, for the cosine of recent_similarity


class FastRanker:
    """The engagement head of one exported ranker over one model's item matrices."""

    def __init__(self, p: Mapping[str, np.ndarray], hidden: list[tuple[np.ndarray, np.ndarray]], rank: int) -> None:
        self.p, self.hidden, self.rank = p, hidden, rank
        w0 = p["backbone.0.weight"]
        c = p["surface_emb.weight"].shape[1]
        cuts = np.cumsum([len(USER_NUM), len(ITEM_NUM), N_DERIVED, N_GENRES, N_GENRES, N_GENRES, rank, c, c, 1])
        (self.w_user, self.w_item, w_d, self.w_ug, self.w_ig, self.w_sg, self.w_uv, w_s, w_dev, w_sin, w_cos) = (
            np.split(w0, cuts, axis=1)
        )
        self.b0 = p["backbone.0.bias"]
        self.w_d = w_d / p["derived_std"]  # standardisation folded into the weights
        self.d_offset = self.w_d @ p["derived_mean"]
        self.w_sin, self.w_cos = w_sin[:, 0], w_cos[:, 0]
        self.surface_part = p["surface_emb.weight"] @ w_s.T  # (surfaces, h)
        self.device_part = p["device_emb.weight"] @ w_dev.T  # (devices, h)
        self.head_w, self.head_b = p["engage_head.weight"][0], float(p["engage_head.bias"][0])
        # The request's terms in one matvec: [user_num, user_genres, session_genres, sin, cos, has_session, has_recent]
        self.w_request = np.hstack([self.w_user, self.w_ug, self.w_sg, w_sin, w_cos, self.w_d[:, 4:6]])
        self.b_request = self.b0 - self.d_offset
        self.w_uv_als = np.ascontiguousarray(self.w_uv.T + self.w_d[:, 2])  # user_vec*item_vec and als_score
        self.w_affinity = np.ascontiguousarray(self.w_d[:, :2].T)  # genre and session affinity
        self._eye = np.eye(len(self.surface_part) + 1, dtype=np.float32)[: len(self.surface_part)]
        self.item_part = np.zeros((0, w0.shape[0]), np.float32)
        self.item_in = np.zeros((0, rank + N_GENRES), np.float32)
        self.item_norm = np.zeros(0, np.float32)

    def with_items(self, item_num: np.ndarray, item_genres: np.ndarray, item_vecs: np.ndarray) -> FastRanker:
        """A copy with the per-item tables (the item-only first-layer part, ``[vec | genres]``, the vector norms)
        of these matrices; a copy, so requests in flight keep a consistent set while item features attach."""
        p, out = self.p, copy.copy(self)
        i = (_transform(item_num.astype(np.float32), p["item_tf"]) - p["item_mean"]) / p["item_std"]
        out.item_part = np.ascontiguousarray(i @ self.w_item.T + item_genres @ self.w_ig.T, dtype=np.float32)
        out.item_in = np.ascontiguousarray(np.hstack([item_vecs, item_genres]), dtype=np.float32)
        out.item_norm = np.sqrt((item_vecs * item_vecs).sum(1)).astype(np.float32)
        return out

    def user(self, u: Mapping[str, np.ndarray]) -> FastUser:
        """The request's part of the first layer, once per page (``u``: the user inputs, shape ``[1, ...]``)."""
        p = self.p
        ug, sg = u["user_genres"][0], u["session_genres"][0]
        uv, rv = u["user_vec"][0].astype(np.float32), u["recent_vec"][0].astype(np.float32)
        un = (_transform(u["user_num"][0], p["user_tf"]) - p["user_mean"]) / p["user_std"]
        angle = float(u["hour"][0]) * (2.0 * math.pi / 24.0)
        rnorm = float(np.sqrt(np.float32(rv @ rv)))
        flags = [math.sin(angle), math.cos(angle), float(sg.sum() > 0), float(rnorm > 0)]
        base = self.w_request @ np.concatenate([un, ug, sg, np.asarray(flags, np.float32)]) + self.b_request
        h = len(self.b0)
        q = np.empty((self.rank + N_GENRES, h + 1), np.float32)
        q[: self.rank, :h] = uv[:, None] * self.w_uv_als
        q[: self.rank, h] = rv
        q[self.rank :, :h] = np.stack([ug, sg], 1) @ self.w_affinity
        q[self.rank :, h] = 0.0
        return FastUser(base.astype(np.float32), q, rnorm)

    def score(self, user: FastUser, positions: np.ndarray, surfaces: np.ndarray, device: int) -> np.ndarray:
        """Engagement probability of each (item position, surface) pair for one request."""
        x = self.item_in.take(positions, 0) @ user.q  # interactions; last column recent·item
        h = x.shape[1] - 1
        n_surfaces = len(self.surface_part)
        # Per pair: a one-hot of its surface and its recent_similarity, times [surface + request rows; w_sim].
        pair = self._eye.take(surfaces, 0)
        pair[:, n_surfaces] = x[:, h] / np.maximum(user.rnorm * self.item_norm.take(positions), np.float32(1e-6))
        rows = np.vstack([self.surface_part + (user.base + self.device_part[device]), self.w_d[:, 3]])
        a = x[:, :h] + self.item_part.take(positions, 0)
        a += pair @ rows
        np.maximum(a, 0, out=a)
        for w_t, b in self.hidden:
            a = a @ w_t
            a += b
            np.maximum(a, 0, out=a)
        z = a @ self.head_w
        z += np.float32(self.head_b)
        with np.errstate(over="ignore"):  # exp(-z) of a very negative z is inf: the probability is 0, as torch's
            return 1.0 / (1.0 + np.exp(-z))


def build(ranker: torch.jit.ScriptModule, rank: int) -> FastRanker | None:
    """A :class:`FastRanker` from the exported module's parameters, or None when the module is not the expected
    layout (a first layer over the known concatenation, then Linear/ReLU pairs, an engagement head)."""
    try:
        p = {k: v.detach().cpu().numpy() for k, v in ranker.state_dict().items()}
        kinds = [c.original_name for _, c in ranker.backbone.named_children()]
    except Exception as exc:  # any other module shape means "not this architecture"
        log.info("ranker has no backbone of the known layout (%s): scoring with TorchScript", exc)
        return None
    n_lin = len(kinds) // 2
    expected = set(_BUFFERS) | {"surface_emb.weight", "device_emb.weight"}
    expected |= {f"{h}.{t}" for h in ("engage_head", "satisfaction_head") for t in ("weight", "bias")}
    expected |= {f"backbone.{2 * k}.{t}" for k in range(n_lin) for t in ("weight", "bias")}
    if kinds != ["Linear", "ReLU"] * n_lin or n_lin == 0 or set(p) != expected:
        log.info("ranker layout %s / %s is not the known one: scoring with TorchScript", kinds, sorted(p))
        return None
    c = p["surface_emb.weight"].shape[1]
    width = len(USER_NUM) + len(ITEM_NUM) + N_DERIVED + 3 * N_GENRES + rank + 2 * c + 2
    if p["backbone.0.weight"].shape[1] != width or p["device_emb.weight"].shape[1] != c:
        log.info(
            "ranker's first layer is %s wide, expected %d: scoring with TorchScript",
            p["backbone.0.weight"].shape,
            width,
        )
        return None
    p = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in p.items()}
    hidden = [
        (np.ascontiguousarray(p[f"backbone.{2 * k}.weight"].T), p[f"backbone.{2 * k}.bias"]) for k in range(1, n_lin)
    ]
    return FastRanker(p, hidden, rank)


def _raw(z: np.ndarray, tf: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Raw inputs whose standardised transform is ``z``: the inverse of the module's transform."""
    t = mean + std * z
    for c, kind in enumerate(tf.tolist()):  # per column: exp of an untransformed column (a year) overflows
        t[:, c] = np.expm1(t[:, c]) if kind == 1 else np.exp(t[:, c]) - 1e-6 if kind == 2 else t[:, c]
    return t.astype(np.float32)


def sample_inputs(
    fast: FastRanker, rng: np.random.Generator, n_users: int = 6, n_items: int = 64
) -> tuple[list[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Varied inputs for the equality check, on the scale the model was trained on (numeric columns drawn so
    that their standardised values are N(0, 1), so the outputs are not saturated and a difference shows):
    users with and without a session or recent items, every hour band; items (num, genres, vectors)."""
    p, r = fast.p, fast.rank

    def genres(n: int) -> np.ndarray:
        g = rng.random((n, N_GENRES)).astype(np.float32) * (rng.random((n, N_GENRES)) < 0.2)
        g[:, 0] += 1e-3
        return (g / g.sum(1, keepdims=True)).astype(np.float32)

    users = []
    for k in range(n_users):
        users.append(
            {
                "user_num": _raw(rng.normal(size=(1, len(USER_NUM))), p["user_tf"], p["user_mean"], p["user_std"]),
                "user_genres": genres(1),
                "session_genres": genres(1) * (k % 2),
                "user_vec": rng.normal(scale=0.5, size=(1, r)).astype(np.float32),
                "recent_vec": rng.normal(scale=0.5, size=(1, r)).astype(np.float32) * (k % 3 > 0),
                "hour": np.array([(5 * k + 2) % 24], np.float32),
            }
        )
    num = _raw(rng.normal(size=(n_items, len(ITEM_NUM))), p["item_tf"], p["item_mean"], p["item_std"])
    return users, (num, genres(n_items), rng.normal(scale=0.5, size=(n_items, r)).astype(np.float32))
