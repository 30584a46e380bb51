"""A sequence-aware next-item model (SASRec- or GRU4Rec-style) over a user's newest engagements.

Why: the next item a user engages with depends on the order of what they engaged with just before, which a
bag-of-items model (EASE, ALS) and co-occurrence within a window see only in part. The model reads the user's
newest ``max_len`` engagements (item positions, oldest first) and scores every item as the next one; it is
trained with a full softmax cross-entropy at every position of users' sequences (the "SASRec with CE" recipe,
stronger than the original one-negative BCE and still CPU-sized for catalogs of ~10k items).

Item positions are shifted by one inside the model: 0 is padding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numba
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

Encoder = Literal["gru", "sasrec"]
ENCODERS: tuple[str, ...] = get_args(Encoder)


class SequenceConfig(BaseModel):
    """Architecture and training of the next-item model (the batch config's ``next_item`` section holds one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: Encoder = Field("gru", description="gru (GRU4Rec-style) or sasrec (causal self-attention)")
    dim: int = Field(64, ge=4)
    blocks: int = Field(2, ge=1, description="GRU layers or attention blocks")
    heads: int = Field(1, ge=1)
    max_len: int = Field(50, ge=2, description="newest engagements the model reads")
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_train_seconds: float = Field(300.0, gt=0, description="no epoch starts past this wall time")
    seed: int = 7


class NextItemModel(nn.Module):
    """Item embeddings + a causal encoder; the score of item j after a sequence is ⟨h_last, e_j⟩ (tied)."""

    def __init__(self, n_items: int, cfg: SequenceConfig) -> None:
        super().__init__()
        self.n_items, self.max_len, self.encoder_kind = n_items, cfg.max_len, cfg.encoder
        self.fit_stats: dict[str, float] = {}
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
        nn.init.normal_(self.items.weight, std=1.0 / math.sqrt(cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(cfg.dim)
        if cfg.encoder == "sasrec":
            self.positions = nn.Embedding(cfg.max_len, cfg.dim)
            layer = nn.TransformerEncoderLayer(
                cfg.dim, cfg.heads, cfg.dim * 2, cfg.dropout, batch_first=True, norm_first=True
            )
            self.attention = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
            self.register_buffer("causal", torch.triu(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool), 1))
        else:
            self.gru = nn.GRU(cfg.dim, cfg.dim, cfg.blocks, batch_first=True)

    def encode(self, x: Tensor) -> Tensor:
        """(batch, L) shifted item positions, left-padded with 0 → (batch, L, dim) states."""
        h = self.items(x) * math.sqrt(self.items.embedding_dim)
        if self.encoder_kind == "sasrec":
            length = x.shape[1]
            h = h + self.positions.weight[self.max_len - length :]  # right-aligned: the newest is always last
            h = self.drop(h)
            h = self.attention(h, mask=self.causal[:length, :length], src_key_padding_mask=None, is_causal=True)
        else:
            h, _ = self.gru(self.drop(h))
        return self.norm(h)

    def logits(self, states: Tensor) -> Tensor:
        """States → scores of every item (column j = item position j; padding dropped)."""
        return states @ self.items.weight[1:].T


def windows(sequences: Iterable[Sequence[int]], max_len: int) -> np.ndarray:
    """Training windows of ``max_len + 1`` shifted positions, left-padded: each sequence cut from its newest end
    into pieces that overlap by one (the last input of one is the first target of the next)."""
    out: list[np.ndarray] = []
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64) + 1
        end = len(s)
        while end >= 2:
            piece = s[max(0, end - max_len - 1) : end]
            row = np.zeros(max_len + 1, dtype=np.int64)
            row[-len(piece) :] = piece
            out.append(row)
            end -= max_len
    return np.stack(out) if out else np.zeros((0, max_len + 1), dtype=np.int64)


def train(sequences: Iterable[Sequence[int]], n_items: int, cfg: SequenceConfig) -> NextItemModel:
    """Fit the model on users' engagement sequences (item positions, oldest first); what the fit did is left in
    ``model.fit_stats`` (windows, epochs run, seconds, the last epoch's mean loss)."""
    torch.manual_seed(cfg.seed)
    model = NextItemModel(n_items, cfg)
    data = torch.from_numpy(windows(sequences, cfg.max_len))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    epochs, loss_sum, batches = 0, 0.0, 0
    model.train()
    while len(data) and epochs < cfg.epochs and time.perf_counter() - start <= cfg.max_train_seconds:
        loss_sum, batches = 0.0, 0
        for batch in data[torch.randperm(len(data), generator=gen)].split(cfg.batch_size):
            x, y = batch[:, :-1], batch[:, 1:]
            keep = y > 0
            loss = nn.functional.cross_entropy(model.logits(model.encode(x)[keep]), y[keep] - 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum, batches = loss_sum + loss.item(), batches + 1
        epochs += 1
    model.fit_stats = {
        "windows": len(data),
        "epochs": epochs,
        "seconds": round(time.perf_counter() - start, 1),
        "loss": round(loss_sum / max(batches, 1), 4),
    }
    return model.eval()


def save(model: NextItemModel, cfg: SequenceConfig, path: Path) -> None:
    """Plain tensors and the model's own config (the registry artifact; loaded with ``weights_only``, no pickled
    code). Only :class:`SequenceConfig`'s fields are written: a caller's subclass (the batch section adds
    ``enabled``, ``threads``) must not reach the reader, which forbids unknown keys."""
    config = cfg.model_dump(include=set(SequenceConfig.model_fields))
    torch.save({"config": config, "n_items": model.n_items, "state": model.state_dict()}, path)


def load(path: Path) -> NextItemModel:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = NextItemModel(int(blob["n_items"]), SequenceConfig(**blob["config"]))
    model.load_state_dict(blob["state"])
    return model.eval()


def pad_newest(histories: Sequence[Sequence[int]], max_len: int) -> Tensor:
    """Each history's newest ``max_len`` item positions, shifted and left-padded to ``max_len`` (batch, max_len).

    Always the full width, as every training window is: a GRU that has not run through the padding steps
    starts from another state than it was trained with (served one user at a time without the padding, the
    model scored 0.0988 instead of 0.1099 NDCG@10 on ML-100K's replay targets)."""
    x = np.zeros((len(histories), max_len), dtype=np.int64)
    for r, h in enumerate(histories):
        tail = np.asarray(list(h)[-max_len:], dtype=np.int64) + 1
        if len(tail):
            x[r, -len(tail) :] = tail
    return torch.from_numpy(x)


def blend(i2i: np.ndarray, seq: np.ndarray, weight: float, exclude: Sequence[int] = ()) -> np.ndarray:
    """``weight`` × the item-to-item scores + (1 − weight) × the sequence model's, each min-max scaled to [0, 1]
    per row over the items not in ``exclude`` (what the user engaged with: never recommended, so their scores
    must not set the scale). Rows are users; a 1-d pair is one user. The offline blend and serving's FOR_YOU
    prior are this one function."""
    return blend_many((i2i, seq), (weight, 1.0 - weight), exclude)


def blend_many(parts: Sequence[np.ndarray], weights: Sequence[float], exclude: Sequence[int] = ()) -> np.ndarray:
    """Σ weight × part, each part min-max scaled to [0, 1] per row over the items not in ``exclude`` (see
    :func:`blend`, its two-part case): the score fusion of several signals, each made comparable per user."""
    if len(parts) != len(weights) or not parts:
        raise ValueError(f"need one weight per part, got {len(weights)} weights for {len(parts)} parts")
    return sum(w * minmax(p, exclude) for p, w in zip(parts, weights, strict=True))


def minmax(scores: np.ndarray, exclude: Sequence[int] = ()) -> np.ndarray:
    """Scores scaled to [0, 1] per row over the finite entries not in ``exclude``; the rest 0. One compiled
    pass per row (serving scales every part of FOR_YOU's prior per request; as numpy it was eight array passes)."""
    s = np.array(scores, dtype=np.float64, ndmin=2)
    excluded = np.zeros(s.shape[1], dtype=np.bool_)
    if len(exclude):
        excluded[list(exclude)] = True
    return _minmax(s, excluded).reshape(np.shape(scores))


@numba.njit(numba.float64[:, :](numba.float64[:, :], numba.boolean[:]), cache=True, nogil=True)
def _minmax(s: np.ndarray, excluded: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled; tested via minmax
    """Per row: lo and hi over the finite, not excluded entries; (x − lo) / (hi − lo) there (span 1 when
    hi ≤ lo), 0 elsewhere."""
    out = np.zeros_like(s)
    for r in range(s.shape[0]):
        lo, hi = np.inf, -np.inf
        for j in range(s.shape[1]):
            x = s[r, j]
            if not excluded[j] and np.isfinite(x):
                lo = min(lo, x)
                hi = max(hi, x)
        span = hi - lo if hi > lo else 1.0
        shift = lo if np.isfinite(lo) else 0.0
        for j in range(s.shape[1]):
            x = s[r, j]
            if not excluded[j] and np.isfinite(x):
                out[r, j] = (x - shift) / span
    return out


@torch.no_grad()
def score(model: NextItemModel, histories: Sequence[Sequence[int]]) -> np.ndarray:
    """(len(histories), n_items) next-item scores (logits) after each history (item positions, oldest first);
    an empty history gets the scores of a sequence of padding only."""
    x = pad_newest(histories, model.max_len)
    return model.logits(model.encode(x)[:, -1]).numpy()
