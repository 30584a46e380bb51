"""A learned fusion over FOR_YOU's prior candidates (issue #15, session 11): a small scorer re-ranks the prior's best
N items of a request from per-candidate features (each part's raw, min-max and rank score, popularity at several
half-lives, item and user recency, genre overlap), trained listwise — softmax cross-entropy over each case's
candidate list, the engaged item the label — on next-item cases cut inside the history, never the period it serves.

The linear min-max blend of :mod:`serving.logic.prior` weighs each part the same for every user and item; offline
(docs/benchmarks.md, *session 11*) a scorer that sees the parts' ranks and a few cheap context features beat it on
the replay's targets. Pure: arrays in, a :class:`Fusion` (numpy inference, no torch at serving) out; torch only
to fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridrec import sequence

PARTS = ("i2i", "ease", "pop7", "pop30", "pop365")
"""The prior's parts a candidate is described by: co-occurrence, EASE, recent popularity at 7 / 30 / 365 days."""
FEATURES: tuple[str, ...] = (
    *(f"{p} {k}" for p in PARTS for k in ("raw", "minmax", "log rank")),
    "prior",
    "prior log rank",
    "i2i newest-1 minmax",
    "all-time popularity",
    "log h since anyone engaged",
    "log h since first engaged",
    "log history length",
    "log h since user's previous event",
    "user has no history",
    "genre overlap newest 10",
)
"""What :func:`features` lays out per candidate, in order."""


def log_ranks(scores: np.ndarray) -> np.ndarray:
    """log1p of each entry's 0-based rank in its row (ties by position; −inf entries last)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty(scores.shape, np.float32)
    np.put_along_axis(out, order, np.arange(scores.shape[1], dtype=np.float32)[None, :], axis=1)
    return np.log1p(out)


@dataclass(frozen=True)
class Candidates:
    """Each case's best ``n`` items by the prior (positions, best first), the prior's score and their features."""

    items: np.ndarray  # (cases, n)
    prior: np.ndarray  # (cases, n)
    x: np.ndarray  # (cases, n, len(FEATURES)) float32


def features(
    parts: Sequence[np.ndarray],
    weights: Sequence[float],
    newest: np.ndarray,
    popularity: np.ndarray,
    since_last: np.ndarray,
    since_first: np.ndarray,
    user: np.ndarray,
    genres: np.ndarray,
    taste: np.ndarray,
    n: int,
    *,
    local_ranks: bool = True,
) -> Candidates:
    """The prior's best ``n`` unengaged items of each case and :data:`FEATURES` of each.

    ``parts``: the raw score of every item (cases × items) of each of :data:`PARTS`, engaged items −inf; the prior is
    their :func:`hybridrec.sequence.minmax` blend at ``weights``. ``newest``: the co-occurrence score from the newest
    engagement alone (engaged −inf). ``popularity``: log all-time engagements per item; ``since_last`` /
    ``since_first``: log hours since anyone's last / first engagement with each item (cases × items). ``user``:
    (cases × 3) log history length, log hours since the user's previous event, no-history flag. ``genres``: items ×
    genres; ``taste``: the genre sum of each case's newest engagements (cases × genres). ``local_ranks``: each part's
    rank among the ``n`` candidates (what a request can afford) rather than among all items."""
    seen = ~np.isfinite(parts[0])
    scaled = [sequence.minmax(p) for p in parts]
    fused = np.where(seen, -np.inf, sum(w * s for w, s in zip(weights, scaled, strict=True))).astype(np.float32)
    cand = np.argsort(-fused, axis=1, kind="stable")[:, :n]

    def take(m: np.ndarray) -> np.ndarray:
        return np.take_along_axis(m, cand, axis=1).astype(np.float32)

    feats = []
    for r, s in zip(parts, scaled, strict=True):
        rank = log_ranks(take(r)) if local_ranks else take(log_ranks(r))
        feats += [take(np.where(np.isfinite(r), r, 0.0)), take(s), rank]
    feats += [take(fused), log_ranks(take(fused)), take(sequence.minmax(newest))]
    feats += [popularity[cand].astype(np.float32), take(since_last), take(since_first)]
    feats += [np.broadcast_to(user[:, None, k], cand.shape) for k in range(user.shape[1])]
    t = taste / np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-9)
    g = genres[cand]
    g = g / np.maximum(np.linalg.norm(g, axis=2, keepdims=True), 1e-9)
    feats.append(np.einsum("ncg,ng->nc", g, t))
    return Candidates(cand, take(fused), np.stack(feats, axis=2).astype(np.float32))


@dataclass(frozen=True)
class Fusion:
    """Standardisation, then ReLU layers and a linear output: ``layers`` are (weight (out, in), bias (out,)) in
    order; one layer is a linear scorer."""

    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of candidates ``x`` (..., features) → (...): higher is placed first."""
        h = (np.asarray(x, np.float32) - self.mean) / self.scale
        for k, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[..., 0]

    def arrays(self) -> dict[str, np.ndarray]:
        """For ``np.savez`` (a version's artifact)."""
        out = {"mean": self.mean, "scale": self.scale}
        for k, (w, b) in enumerate(self.layers):
            out[f"w{k}"], out[f"b{k}"] = w, b
        return out

    @classmethod
    def of_arrays(cls, a: Any) -> Fusion:
        n = sum(1 for k in a if str(k).startswith("w"))
        return cls(np.asarray(a["mean"]), np.asarray(a["scale"]), tuple((a[f"w{k}"], a[f"b{k}"]) for k in range(n)))


def target_ranks(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """0-based rank of each case's target among its candidates by ``scores`` (cases × candidates), ties counted by
    candidate order (the prior's: the earlier candidate first); −1 where the target is not a candidate (−1)."""
    st = scores[np.arange(len(target)), np.maximum(target, 0)]
    above = (scores > st[:, None]).sum(1)
    tied = ((scores == st[:, None]) & (np.arange(scores.shape[1])[None, :] < target[:, None])).sum(1)
    return np.where(target >= 0, above + tied, -1)


def ndcg_at_10(rank: np.ndarray) -> float:
    """Mean NDCG@10 of one relevant item per case from its 0-based rank (−1: not in the list)."""
    r = np.where(rank < 0, 10**6, rank).astype(np.float64)
    return float(np.where(r < 10, 1.0 / np.log2(r + 2), 0.0).mean()) if len(r) else 0.0


@dataclass(frozen=True)
class Fit:
    """The fitted scorer and how its early stopping went (held-out cases' NDCG@10 by epoch, the prior's)."""

    fusion: Fusion
    best_epoch: int
    dev_ndcg: float
    dev_prior_ndcg: float
    curve: list[float]


def fit(
    x: np.ndarray,
    target: np.ndarray,
    groups: Sequence[str],
    *,
    hidden: int = 32,
    epochs: int = 40,
    lr: float = 3e-3,
    weight_decay: float = 1e-5,
    batch: int = 256,
    dev_share: float = 0.2,
    seed: int = 0,
) -> Fit:
    """Fit on cases ``x`` (cases × candidates × features, candidates in the prior's order) whose engaged item is
    candidate ``target`` (−1: not among them; such cases count only in the held-out NDCG). ``dev_share`` of the
    ``groups`` (users: all of a user's cases on one side) is held out; the epoch with the best held-out NDCG@10
    is kept. ``hidden`` 0: a linear scorer."""
    import torch  # fitting only: serving scores with numpy

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    held = set(rng.choice(names, size=max(1, int(len(names) * dev_share)), replace=False).tolist())
    dev = np.array([g in held for g in groups])
    train = np.flatnonzero(~dev & (target >= 0))
    flat = x[train].reshape(-1, x.shape[2])
    mean, scale = flat.mean(0).astype(np.float32), (flat.std(0) + 1e-6).astype(np.float32)
    xt = torch.from_numpy(((x - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(target.astype(np.int64))
    net = (
        torch.nn.Sequential(torch.nn.Linear(x.shape[2], 1))
        if hidden == 0
        else torch.nn.Sequential(torch.nn.Linear(x.shape[2], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    )
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    dev_idx = np.flatnonzero(dev)
    prior = -np.arange(x.shape[1], dtype=np.float64)[None, :].repeat(len(dev_idx), 0)
    best: tuple[float, int, dict[str, Any]] = (-1.0, -1, {})
    curve = []
    for epoch in range(epochs):
        net.train()
        for b in np.array_split(rng.permutation(train), max(1, len(train) // batch)):
            loss = torch.nn.functional.cross_entropy(net(xt[b]).squeeze(-1), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            s = net(xt[dev_idx]).squeeze(-1).numpy()
        curve.append(ndcg_at_10(target_ranks(s, target[dev_idx])))
        if curve[-1] > best[0]:
            best = (curve[-1], epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
    net.load_state_dict(best[2])
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = tuple((m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears)
    prior_ndcg = ndcg_at_10(target_ranks(prior, target[dev_idx]))
    return Fit(Fusion(mean, scale, layers), best[1], best[0], prior_ndcg, curve)
