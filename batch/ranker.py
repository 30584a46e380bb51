"""The consolidated multi-task ranker (ADR-001): one torch model scores every row of every surface.

A shared MLP backbone reads user, item, context (surface, device, hour) and fresh-session inputs plus the
ALS vectors; one head per task predicts engagement (play/click/... probability) and satisfaction (rating
or thumbs, scaled to [0, 1], trained only where such a label exists). The model takes *raw* inputs as the
feature store holds them and does its own transforms, interactions (genre affinity, ALS score, similarity
to the recent items) and normalisation from buffers, so serving, which loads the TorchScript file and the
JSON schema only, cannot disagree with training about any of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from batch.config import RankerConfig
from batch.embeddings import Embeddings
from hybridrec import ranker_inputs as ri
from hybridrec.contract import GENRES
from hybridrec.ranker_inputs import DAY_MS, INPUT_ORDER, N_GENRES

UNKNOWN = "<unk>"

# name, source (feature view/field or derivation), transform before standardisation: 0 none, 1 log1p, 2 log(x+1e-6)
USER_NUM = (
    ("n_events", "user_batch.n_events", 1),
    ("n_ratings", "user_batch.n_ratings", 1),
    ("mean_rating", "user_batch.mean_rating", 0),
    ("tenure_days", "(request_ms - user_batch.first_event_ms) / 86400000", 1),
)
ITEM_NUM = (
    ("popularity", "item_batch.popularity", 2),
    ("n_ratings", "item_batch.n_ratings", 1),
    ("mean_rating", "item_batch.mean_rating", 0),
    ("age_days", "item_batch.age_days", 1),
    ("year", "item_batch.year (0 = unknown)", 0),
)
DERIVED = ("genre_affinity", "session_affinity", "als_score", "recent_similarity", "has_session", "has_recent")


class MultiTaskRanker(nn.Module):
    """Shared backbone, two heads; ``forward`` returns (engagement probability, satisfaction in [0, 1])."""

    def __init__(self, rank: int, n_surfaces: int, n_devices: int, cfg_hidden: list[int], context_dim: int) -> None:
        super().__init__()
        nu, ni, nd = len(USER_NUM), len(ITEM_NUM), len(DERIVED)
        self.register_buffer("user_tf", torch.tensor([t for _, _, t in USER_NUM], dtype=torch.long))
        self.register_buffer("item_tf", torch.tensor([t for _, _, t in ITEM_NUM], dtype=torch.long))
        for name, n in (("user", nu), ("item", ni), ("derived", nd)):
            self.register_buffer(f"{name}_mean", torch.zeros(n))
            self.register_buffer(f"{name}_std", torch.ones(n))
        self.surface_emb = nn.Embedding(n_surfaces, context_dim)
        self.device_emb = nn.Embedding(n_devices, context_dim)
        width = nu + ni + nd + 3 * N_GENRES + rank + 2 * context_dim + 2
        layers: list[nn.Module] = []
        for h in cfg_hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.backbone = nn.Sequential(*layers)
        self.engage_head = nn.Linear(width, 1)
        self.satisfaction_head = nn.Linear(width, 1)

    @staticmethod
    def _transform(x: Tensor, tf: Tensor) -> Tensor:
        log1p = torch.log1p(torch.clamp(x, min=0.0))
        loge = torch.log(torch.clamp(x, min=0.0) + 1e-6)
        return torch.where(tf == 1, log1p, torch.where(tf == 2, loge, x))

    def derived(
        self,
        user_genres: Tensor,
        item_genres: Tensor,
        session_genres: Tensor,
        user_vec: Tensor,
        item_vec: Tensor,
        recent_vec: Tensor,
    ) -> Tensor:
        """Interaction features, before standardisation (also used to fit the normalisation)."""
        genre_aff = (user_genres * item_genres).sum(1)
        session_aff = (session_genres * item_genres).sum(1)
        als = (user_vec * item_vec).sum(1)
        rnorm = torch.sqrt((recent_vec * recent_vec).sum(1))
        inorm = torch.sqrt((item_vec * item_vec).sum(1))
        sim = (recent_vec * item_vec).sum(1) / torch.clamp(rnorm * inorm, min=1e-6)
        has_session = (session_genres.sum(1) > 0).float()
        has_recent = (rnorm > 0).float()
        return torch.stack([genre_aff, session_aff, als, sim, has_session, has_recent], 1)

    def prepared(self, user_num: Tensor, item_num: Tensor) -> tuple[Tensor, Tensor]:
        return self._transform(user_num, self.user_tf), self._transform(item_num, self.item_tf)

    def forward(
        self,
        user_num: Tensor,
        user_genres: Tensor,
        item_num: Tensor,
        item_genres: Tensor,
        session_genres: Tensor,
        user_vec: Tensor,
        item_vec: Tensor,
        recent_vec: Tensor,
        surface: Tensor,
        device: Tensor,
        hour: Tensor,
    ) -> tuple[Tensor, Tensor]:
        u, i = self.prepared(user_num, item_num)
        d = self.derived(user_genres, item_genres, session_genres, user_vec, item_vec, recent_vec)
        u = (u - self.user_mean) / self.user_std
        i = (i - self.item_mean) / self.item_std
        d = (d - self.derived_mean) / self.derived_std
        angle = hour * (2.0 * math.pi / 24.0)
        x = torch.cat(
            [
                u,
                i,
                d,
                user_genres,
                item_genres,
                session_genres,
                user_vec * item_vec,
                self.surface_emb(surface),
                self.device_emb(device),
                torch.sin(angle).unsqueeze(1),
                torch.cos(angle).unsqueeze(1),
            ],
            1,
        )
        h = self.backbone(x)
        return torch.sigmoid(self.engage_head(h)).squeeze(1), torch.sigmoid(self.satisfaction_head(h)).squeeze(1)


# --- raw inputs from feature frames --------------------------------------------------------------------


def _stack(col: pd.Series, width: int) -> np.ndarray:
    out = np.zeros((len(col), width), dtype=np.float32)
    for r, v in enumerate(col.to_numpy()):
        if v is not None and len(v):
            out[r] = np.asarray(v, dtype=np.float32)
    return out


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].fillna(0).to_numpy(dtype=np.float64)


def user_inputs(df: pd.DataFrame, emb: Embeddings, session_gap_ms: int) -> dict[str, np.ndarray]:
    """Per row of an as-of user frame (``user_id, query_ms, u_*``): the user-side raw inputs, built by the
    function serving calls too (:func:`hybridrec.ranker_inputs.user_inputs`)."""
    n_r = _num(df, "u_n_ratings")
    recent = np.zeros((len(df), emb.rank), dtype=np.float32)
    for r, items in enumerate(df["u_recent_items"].to_numpy()):
        if items is not None and len(items):
            recent[r] = emb.item_matrix_for(list(items)).mean(0)
    return ri.user_inputs(
        query_ms=df["query_ms"].to_numpy(dtype=np.int64),
        n_events=_num(df, "u_n_events"),
        n_ratings=n_r,
        mean_rating=np.divide(_num(df, "u_rating_sum"), n_r, out=np.zeros(len(df)), where=n_r > 0),
        first_ms=df["u_first_ms"].fillna(-1).to_numpy(dtype=np.int64),
        last_ms=df["u_last_ms"].fillna(-1).to_numpy(dtype=np.int64),
        genre_mass=_stack(df["u_genre_sum"], N_GENRES),
        session_genre_mass=_stack(df["u_session_genres"], N_GENRES),
        user_vecs=emb.user_matrix_for(df["user_id"].tolist()),
        recent_vecs=recent,
        session_gap_ms=session_gap_ms,
    )


def item_inputs(df: pd.DataFrame, emb: Embeddings) -> dict[str, np.ndarray]:
    """Per row of an as-of item frame (``item_id, i_*, g_n_engaged, i_year, genre_vec``)."""
    total = _num(df, "g_n_engaged")
    n_r = _num(df, "i_n_ratings")
    q = df["query_ms"].to_numpy(dtype=np.int64)
    first = df["i_first_ms"].fillna(-1).to_numpy(dtype=np.int64)
    return {
        "item_num": np.stack(
            [
                np.divide(_num(df, "i_n_engaged"), total, out=np.zeros(len(df)), where=total > 0),
                n_r,
                np.divide(_num(df, "i_rating_sum"), n_r, out=np.zeros(len(df)), where=n_r > 0),
                np.where(first >= 0, np.floor((q - first) / DAY_MS), 0.0),
                _num(df, "i_year"),
            ],
            1,
        ).astype(np.float32),
        "item_genres": _stack(df["genre_vec"], N_GENRES),
        "item_vec": emb.item_matrix_for(df["item_id"].tolist()),
    }


@dataclass
class Vocab:
    surfaces: list[str]
    devices: list[str]

    @staticmethod
    def fit(surfaces: pd.Series, devices: pd.Series) -> Vocab:
        return Vocab([UNKNOWN, *sorted(set(surfaces.dropna()))], [UNKNOWN, *sorted(set(devices.dropna()))])

    def ids(self, values: list[str] | np.ndarray, which: str) -> np.ndarray:
        table = {v: i for i, v in enumerate(self.surfaces if which == "surface" else self.devices)}
        return np.array([table.get(v, 0) for v in values], dtype=np.int64)


def to_tensors(inputs: dict[str, np.ndarray]) -> list[Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in INPUT_ORDER]


def score(model: nn.Module, inputs: dict[str, np.ndarray], batch: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Both heads for every row, in batches (no grad)."""
    n = len(inputs["hour"])
    eng, sat = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    with torch.no_grad():
        for s in range(0, n, batch):
            part = {k: v[s : s + batch] for k, v in inputs.items()}
            e, t = model(*to_tensors(part))
            eng[s : s + batch], sat[s : s + batch] = e.numpy(), t.numpy()
    return eng, sat


# --- training ------------------------------------------------------------------------------------------


def _fit_norm(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.mean(0), torch.clamp(x.std(0), min=1e-3)


def train(
    inputs: dict[str, np.ndarray],
    engage: np.ndarray,
    satisfaction: np.ndarray,
    vocab: Vocab,
    rank: int,
    cfg: RankerConfig,
) -> tuple[MultiTaskRanker, dict[str, float]]:
    """Fit the ranker on assembled examples; satisfaction is NaN where the example has no such label."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    model = MultiTaskRanker(rank, len(vocab.surfaces), len(vocab.devices), list(cfg.hidden), cfg.context_dim)
    t = dict(zip(INPUT_ORDER, to_tensors(inputs), strict=True))
    with torch.no_grad():
        u, i = model.prepared(t["user_num"], t["item_num"])
        d = model.derived(
            t["user_genres"], t["item_genres"], t["session_genres"], t["user_vec"], t["item_vec"], t["recent_vec"]
        )
        for name, x in (("user", u), ("item", i), ("derived", d)):
            mean, std = _fit_norm(x)
            getattr(model, f"{name}_mean").copy_(mean)
            getattr(model, f"{name}_std").copy_(std)
    y = torch.from_numpy(engage.astype(np.float32))
    sat = torch.from_numpy(np.nan_to_num(satisfaction, nan=0.0).astype(np.float32))
    has_sat = torch.from_numpy((~np.isnan(satisfaction)).astype(np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(y)
    losses: list[float] = []
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            p, q = model(*[t[k][idx] for k in INPUT_ORDER])
            loss = nn.functional.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), y[idx])
            w = has_sat[idx]
            if float(w.sum()) > 0:
                loss = loss + cfg.satisfaction_weight * ((q - sat[idx]) ** 2 * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    model.eval()
    return model, {"train_loss_first_epoch": losses[0], "train_loss_last_epoch": losses[-1], "examples": float(n)}


def feature_schema(vocab: Vocab, rank: int, model: MultiTaskRanker) -> dict[str, object]:
    """The JSON contract between this model and whoever calls it: inputs in order, dtypes, shapes,
    sources, transforms and the normalisation the model applies internally."""

    def num(spec: tuple[tuple[str, str, int], ...], prefix: str) -> list[dict[str, object]]:
        mean, std = getattr(model, f"{prefix}_mean").tolist(), getattr(model, f"{prefix}_std").tolist()
        tf = {0: "none", 1: "log1p", 2: "log(x+1e-6)"}
        return [
            {"name": n, "source": src, "transform": tf[t], "mean": mean[k], "std": std[k]}
            for k, (n, src, t) in enumerate(spec)
        ]

    return {
        "format": "torchscript",
        "inputs": [
            {"name": "user_num", "dtype": "float32", "shape": [-1, len(USER_NUM)], "columns": num(USER_NUM, "user")},
            {
                "name": "user_genres",
                "dtype": "float32",
                "shape": [-1, N_GENRES],
                "axis": list(GENRES),
                "source": "user_batch.genre_profile (sums to 1, zeros when unknown)",
            },
            {"name": "item_num", "dtype": "float32", "shape": [-1, len(ITEM_NUM)], "columns": num(ITEM_NUM, "item")},
            {
                "name": "item_genres",
                "dtype": "float32",
                "shape": [-1, N_GENRES],
                "axis": list(GENRES),
                "source": "hybridrec.contract.genre_vector(item_batch.genres)",
            },
            {
                "name": "session_genres",
                "dtype": "float32",
                "shape": [-1, N_GENRES],
                "source": "user_fresh.session_genres normalised to sum 1; zeros when no session is open",
            },
            {"name": "user_vec", "dtype": "float32", "shape": [-1, rank], "source": "user_embeddings.npy row"},
            {"name": "item_vec", "dtype": "float32", "shape": [-1, rank], "source": "item_embeddings.npy row"},
            {
                "name": "recent_vec",
                "dtype": "float32",
                "shape": [-1, rank],
                "source": "mean item_embeddings of user_fresh.recent_items (zeros if none)",
            },
            {"name": "surface", "dtype": "int64", "shape": [-1], "vocabulary": vocab.surfaces},
            {"name": "device", "dtype": "int64", "shape": [-1], "vocabulary": vocab.devices},
            {"name": "hour", "dtype": "float32", "shape": [-1], "source": "UTC hour of the request, 0-23"},
        ],
        "derived_inside_model": [
            {"name": n, "mean": m, "std": s}
            for n, m, s in zip(DERIVED, model.derived_mean.tolist(), model.derived_std.tolist(), strict=True)
        ],
        "outputs": [
            {"name": "engagement", "range": [0, 1], "use": "rank by this"},
            {"name": "satisfaction", "range": [0, 1], "use": "rating/5 or thumbs-up probability"},
        ],
        "embedding_rank": rank,
    }


def export(model: MultiTaskRanker) -> torch.jit.ScriptModule:
    return torch.jit.script(model)
