"""A learned fusion over FOR_YOU's prior candidates (issue #15, session 11): a small scorer re-ranks the prior's best
N items of a request from per-candidate features (each part's raw, min-max and rank score, popularity at several
half-lives, item and user recency, genre overlap), trained listwise — softmax cross-entropy over each case's
candidate list, the engaged item the label — on next-item cases cut inside the history, never the period it serves.

The linear min-max blend of :mod:`serving.logic.prior` weighs each part the same for every user and item; offline
(docs/benchmarks.md, *session 11*) a scorer that sees the parts' ranks and a few cheap context features beat it on
the replay's targets. Pure: arrays in, a :class:`Fusion` (numpy inference, no torch at serving) out; torch only
to fit.

Served (session 12): the nightly batch fits a :class:`Learned` on next-item cases of its own window
(:func:`cases`, the same validation targets :mod:`hybridrec.prior_choice` scores) and publishes it as
``fusion.npz``; serving re-ranks each request's candidates with :func:`rank_one`. Both build every feature through
:func:`case_parts`, :func:`item_ages`, :func:`user_row` and :func:`features`, so there is one definition of each.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from hybridrec import diversity, neighbours, sequence
from hybridrec.fresh_features import DAY_MS, HOUR_MS

HALF_LIVES_MS = (7 * DAY_MS, 30 * DAY_MS, 365 * DAY_MS)
"""The recent popularity's half-lives the fusion reads (each kept by the speed layer, a unit test holds them)."""
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


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Each row's ``n`` best columns, best first, ties by column (a partition, then a sort of the ``n``: serving
    asks this of every catalogue item per request)."""
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.zeros((scores.shape[0], 0), np.int64)
    part = (
        np.argpartition(-scores, n - 1, axis=1)[:, :n]
        if n < scores.shape[1]
        else np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    )
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


@dataclass(frozen=True)
class Candidates:
    """Each case's best ``n`` items by the prior (positions, best first), the prior's score and their features."""

    items: np.ndarray  # (cases, n)
    prior: np.ndarray  # (cases, n)
    x: np.ndarray  # (cases, n, len(FEATURES)) float32
    scaled: np.ndarray | None = None  # each part's min-max score of every item (parts × cases × items)


def features(
    parts: Sequence[np.ndarray],
    weights: Sequence[float],
    newest: np.ndarray,
    popularity: np.ndarray,
    ages: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
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
    engagement alone (engaged −inf). ``popularity``: log all-time engagements per item; ``ages``: the candidates
    (cases × n positions) → log hours since anyone's last and first engagement with each (:func:`item_ages`). ``user``:
    (cases × 3) log history length, log hours since the user's previous event, no-history flag. ``genres``: items ×
    genres; ``taste``: the genre sum of each case's newest engagements (cases × genres). ``local_ranks``: each part's
    rank among the ``n`` candidates (what a request can afford) rather than among all items."""
    stacked = np.stack(parts)  # (parts, cases, items)
    k, cases, items = stacked.shape
    scaled = sequence.minmax(stacked.reshape(k * cases, items)).reshape(k, cases, items)  # one compiled call
    fused = np.tensordot(np.asarray(weights, np.float64), scaled, axes=1)
    fused = np.where(~np.isfinite(stacked[0]), -np.inf, fused).astype(np.float32)
    cand = top_n(fused, n)
    at = (np.arange(cases)[:, None], cand)  # plain fancy indexing: take_along_axis rebuilds its index every call
    raw = stacked[(slice(None), *at)].astype(np.float32)  # (parts, cases, n)
    prior = fused[at]
    x = np.empty((cases, cand.shape[1], 3 * k + 10), np.float32)  # len(FEATURES) with every part
    x[..., 0 : 3 * k : 3] = np.moveaxis(np.where(np.isfinite(raw), raw, 0.0), 0, -1)
    x[..., 1 : 3 * k : 3] = np.moveaxis(scaled[(slice(None), *at)], 0, -1)
    if local_ranks:
        ranked = log_ranks(np.concatenate([raw, prior[None]]).reshape((k + 1) * cases, -1)).reshape(k + 1, cases, -1)
        x[..., 2 : 3 * k : 3] = np.moveaxis(ranked[:k], 0, -1)
    else:
        x[..., 2 : 3 * k : 3] = np.stack([log_ranks(r)[at] for r in stacked], axis=-1)
        ranked = log_ranks(prior)[None]
    x[..., 3 * k] = prior
    x[..., 3 * k + 1] = ranked[-1]
    x[..., 3 * k + 2] = sequence.minmax(newest)[at]
    x[..., 3 * k + 3] = popularity[cand]
    x[..., 3 * k + 4], x[..., 3 * k + 5] = ages(cand)
    x[..., 3 * k + 6 : 3 * k + 9] = user[:, None, :]
    t = taste / np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-9)
    g = genres[cand]
    g = g / np.maximum(np.linalg.norm(g, axis=2, keepdims=True), 1e-9)
    x[..., 3 * k + 9] = np.einsum("ncg,ng->nc", g, t)
    return Candidates(cand, prior, x, scaled)


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
    held: np.ndarray  # the held-out cases (indices): out of sample for this scorer


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
    return Fit(Fusion(mean, scale, layers), best[1], best[0], prior_ndcg, curve, dev_idx)


# --- served: what a version carries, and the features of a case as the batch and serving both build them ----------


@dataclass(frozen=True)
class Spec:
    """How a version's candidates are drawn and described: the prior's weights (co-occurrence takes the rest of
    1; the recent popularity at ``half_life_ms``), how the co-occurrence lists are read (the newest ``seeds``
    engagements, each older one weighing ``decay`` more little), how many engagements the EASE part reads
    (``engaged``: the speed layer's ``engaged_items``), the genre taste's depth and the candidates re-ranked."""

    ease_weight: float = 0.3
    recent_weight: float = 0.2
    half_life_ms: int = 30 * DAY_MS
    seeds: int = 10
    decay: float = 0.7
    engaged: int = 200
    taste: int = 10
    candidates: int = 100

    def weights(self) -> tuple[float, ...]:
        """Each of :data:`PARTS`' weight in the prior."""
        recent = tuple(self.recent_weight if h == self.half_life_ms else 0.0 for h in HALF_LIVES_MS)
        return (1.0 - self.ease_weight - self.recent_weight, self.ease_weight, *recent)


@dataclass(frozen=True)
class ItemHistory:
    """What the lists' data knew of each item (by model position): its engagements and its first and last
    engagement time (−1: none)."""

    count: np.ndarray  # float64
    first_ms: np.ndarray  # int64
    last_ms: np.ndarray  # int64

    @classmethod
    def of(cls, items: np.ndarray, times: np.ndarray, n_items: int) -> ItemHistory:
        """From engagements in time order (positions −1 left out)."""
        keep = items >= 0
        it, tm = items[keep], times[keep].astype(np.int64)
        first = np.full(n_items, -1, np.int64)
        last = np.full(n_items, -1, np.int64)
        last[it] = tm  # in time order: the newest write wins
        first[it[::-1]] = tm[::-1]  # reversed: the oldest write wins
        return cls(np.bincount(it, minlength=n_items).astype(np.float64), first, last)


def case_parts(
    nb: neighbours.Neighbours | None,
    ease: neighbours.Neighbours | None,
    engaged: Sequence[int],
    recent: Sequence[np.ndarray],
    spec: Spec,
    n_items: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """One case's raw part scores (:data:`PARTS`, engaged items −inf) and the co-occurrence score of its newest
    engagement alone: ``engaged`` its distinct engagements, newest first; ``recent`` the recent popularity at each
    of :data:`HALF_LIVES_MS`."""
    zeros = np.zeros(n_items, np.float32)
    eng = np.asarray(list(engaged)[: spec.engaged], np.int64)
    raw = [
        neighbours.score_all(nb, eng[: spec.seeds], spec.decay) if nb is not None else zeros,
        neighbours.score_all(ease, eng, 1.0) if ease is not None else zeros,
        *(np.asarray(r, np.float32) for r in recent),
    ]
    newest = neighbours.score_all(nb, eng[:1], 1.0) if nb is not None else zeros
    out = []
    for r in (*raw, newest):
        r = np.array(r, np.float32)
        r[eng] = -np.inf
        out.append(r)
    return out[:-1], out[-1]


def item_ages(
    now_ms: np.ndarray, first_ms: np.ndarray, last_ms: np.ndarray, cand: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """log1p hours from each item's last and first engagement (``*_ms``: cases × items, or items for every case;
    −1: never) to each case's time ``now_ms`` (cases,), at the candidates ``cand`` (cases × n; None: every item); an
    item never engaged with takes the case's oldest age, as if as old as the oldest item."""
    out = []
    for at in (last_ms, first_ms):
        at = at.reshape(-1, at.shape[-1])  # one row for every case, or one per case
        oldest = np.where(at >= 0, at, _NEVER).min(axis=1)
        oldest = np.where(oldest < _NEVER, oldest, now_ms)  # nothing engaged yet: age 0
        sub = at if cand is None else at[np.arange(len(at))[:, None] if len(at) > 1 else 0, cand]
        sub = np.where(sub >= 0, sub, oldest[:, None])
        out.append(np.log1p(np.maximum(now_ms[:, None] - sub, 0) * (1.0 / HOUR_MS)).astype(np.float32))
    return out[0], out[1]


_NEVER = np.iinfo(np.int64).max


def user_row(n_engaged: np.ndarray, now_ms: np.ndarray, previous_ms: np.ndarray) -> np.ndarray:
    """(cases, 3): log1p distinct engagements, log1p hours since the user's previous event (0: none), no-history."""
    since = np.where(previous_ms >= 0, np.log1p(np.maximum(now_ms - previous_ms, 0) / HOUR_MS), 0.0)
    return np.stack([np.log1p(n_engaged), since, (n_engaged == 0).astype(np.float64)], axis=1).astype(np.float32)


def taste_of(genres: np.ndarray, engaged: Sequence[int], spec: Spec) -> np.ndarray:
    """The genre sum of the newest ``spec.taste`` engagements (zeros without any)."""
    eng = list(engaged)[: spec.taste]
    return genres[eng].sum(0) if eng else np.zeros(genres.shape[1], np.float32)


def merged(nets: Sequence[Fusion]) -> Fusion | None:
    """One net scoring as the mean of ``nets`` (each one hidden layer): each standardisation folded into its first
    layer, the hidden layers side by side, the output weights divided by their number. Serving scores one matrix
    product pair instead of three; None when a net is linear or deeper."""
    if not nets or any(len(f.layers) != 2 for f in nets):
        return None
    first = [(w / f.scale[None, :], b - (w / f.scale[None, :]) @ f.mean) for f in nets for w, b in [f.layers[0]]]
    w1 = np.concatenate([w for w, _ in first]).astype(np.float32)
    b1 = np.concatenate([b for _, b in first]).astype(np.float32)
    w2 = (np.concatenate([f.layers[1][0] for f in nets], axis=1) / len(nets)).astype(np.float32)
    b2 = np.mean([f.layers[1][1] for f in nets], axis=0).astype(np.float32)
    d = len(nets[0].mean)
    return Fusion(np.zeros(d, np.float32), np.ones(d, np.float32), ((w1, b1), (w2, b2)))


@dataclass(frozen=True)
class Learned:
    """A version's fusion: the scorers (their scores averaged), how candidates are drawn (``spec``), what the
    window knew of each item and each item's genre vector (by model position); how FOR_YOU's genre re-rank weighs
    its :func:`confidence` (``temperature``) against entropy (``diversity``, chosen by :func:`diversity_choice`;
    None: not chosen, serving keeps its configured weight) from which slot (``diversity_head``: the first slots
    keep the fused order)."""

    nets: tuple[Fusion, ...]
    spec: Spec
    history: ItemHistory
    genres: np.ndarray  # (items, genres) float32
    diversity: float | None = None
    temperature: float = 1.0
    diversity_head: int = 0
    log_count: np.ndarray = field(init=False, repr=False, compare=False)  # log1p of ``history.count``

    def __post_init__(self) -> None:
        object.__setattr__(self, "_one", merged(self.nets))
        object.__setattr__(self, "log_count", np.log1p(self.history.count).astype(np.float32))

    def score(self, x: np.ndarray) -> np.ndarray:
        """The mean of the scorers' scores (one merged net when they have one hidden layer each)."""
        one: Fusion | None = getattr(self, "_one", None)
        return one.score(x) if one is not None else np.mean([f.score(x) for f in self.nets], axis=0)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "spec": np.frombuffer(json.dumps(asdict(self.spec)).encode(), np.uint8),
            "count": self.history.count,
            "first_ms": self.history.first_ms,
            "last_ms": self.history.last_ms,
            "genres": self.genres,
            "temperature": np.float64(self.temperature),
            "diversity_head": np.int64(self.diversity_head),
        }
        if self.diversity is not None:
            arrays["diversity"] = np.float64(self.diversity)
        for k, net in enumerate(self.nets):
            arrays.update({f"net{k}.{name}": a for name, a in net.arrays().items()})
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> Learned:
        with np.load(path) as a:
            spec = Spec(**json.loads(bytes(a["spec"]).decode()))
            nets = []
            while f"net{len(nets)}.mean" in a:
                pre = f"net{len(nets)}."
                nets.append(Fusion.of_arrays({k[len(pre) :]: a[k] for k in a.files if k.startswith(pre)}))
            history = ItemHistory(a["count"], a["first_ms"], a["last_ms"])
            chosen = float(a["diversity"]) if "diversity" in a else None
            temperature = float(a["temperature"]) if "temperature" in a else 1.0
            head = int(a["diversity_head"]) if "diversity_head" in a else 0
            genres = np.asarray(a["genres"], np.float32)
            return cls(tuple(nets), spec, history, genres, chosen, temperature, head)


def confidence(scores: np.ndarray, temperature: float) -> np.ndarray:
    """The softmax of a request's learned scores (along the last axis) at ``temperature``: each candidate's share
    of the chance that it is the next engagement (the scorers were fit listwise, so their logits are on this
    scale). A re-rank that trades relevance against something else weighs this, not the rank: where the fusion is
    sure, it keeps the item; where it is indifferent, the other goal decides."""
    z = np.asarray(scores, np.float64) / temperature
    if not z.size:
        return z
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rank_one(
    m: Learned,
    nb: neighbours.Neighbours | None,
    ease: neighbours.Neighbours | None,
    engaged: Sequence[int],
    recent: Sequence[np.ndarray],
    fresh_last_ms: np.ndarray | None,
    now_ms: int,
    previous_ms: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One request: the prior's best ``spec.candidates`` unengaged items (positions) re-ordered by the learned
    score, best first, their learned scores (logits of the listwise softmax, in that order), and each part's
    weighted min-max score of every item (:data:`PARTS` × items: the prior is their sum, the largest names the
    slot's reason).
    ``fresh_last_ms``: the speed layer's newest engagement of each item (0/−1: none), newer than the window's."""
    n_items = len(m.history.count)
    parts, newest = case_parts(nb, ease, engaged, recent, m.spec, n_items)
    last = m.history.last_ms if fresh_last_ms is None else np.maximum(m.history.last_ms, fresh_last_ms)
    now = np.array([now_ms], np.int64)
    n_eng = min(len(engaged), m.spec.engaged)
    user = user_row(np.array([n_eng]), now, np.array([previous_ms]))
    c = features(
        [p[None, :] for p in parts],
        m.spec.weights(),
        newest[None, :],
        m.log_count,  # all-time popularity (:meth:`Learned.__post_init__`: once per version, not per request)
        functools.partial(item_ages, now, m.history.first_ms, last),
        user,
        m.genres,
        taste_of(m.genres, engaged, m.spec)[None, :],
        m.spec.candidates,
    )
    s = m.score(c.x[0])
    assert c.scaled is not None
    shares = c.scaled[:, 0, :] * np.asarray(m.spec.weights())[:, None]
    order = np.argsort(-s, kind="stable")
    return c.items[0][order], s[order], shares


@dataclass(frozen=True)
class Cases:
    """Training cases: features (cases × candidates × features), the engaged candidate (−1: not one), the user,
    the candidates (positions); and what the case's user would see as "Popular right now" at its time, which
    :func:`diversity_choice` compares genre entropy with: the candidates and features of an empty history there
    (serving's cold order, :func:`hybridrec.fusion.rank_one` without engagements), which of those the user had
    engaged with (the row filters them), and the recent popularity's best unengaged items that follow."""

    x: np.ndarray
    target: np.ndarray
    users: list[int]
    items: np.ndarray
    cold_x: np.ndarray
    cold_items: np.ndarray
    cold_engaged: np.ndarray  # (cases, candidates) bool
    popular: np.ndarray


def cases(
    times: np.ndarray,
    items: np.ndarray,
    targets: Sequence[Any],
    history: ItemHistory,
    nb: neighbours.Neighbours | None,
    ease: neighbours.Neighbours | None,
    recent: Iterator[Sequence[np.ndarray]],
    genres: np.ndarray,
    spec: Spec,
    chunk: int = 500,
    row: int = 20,
) -> Cases:
    """Each next-item target's (``hybridrec.prior_choice.Target``, in time order) candidates and features, as
    serving builds them at the target's time from the engagements before it (``times``/``items``: every engagement
    in time order). ``history``: the lists' data (the all-time counts); ``recent``: per chunk of targets, the
    recent popularity at each of :data:`HALF_LIVES_MS` (targets × items each)."""
    n_items = len(history.count)
    first = np.full(n_items, -1, np.int64)
    last = np.full(n_items, -1, np.int64)
    k = 0
    xs, where, cands, popular, cold_xs, cold_items, cold_engaged = [], [], [], [], [], [], []
    half_life = HALF_LIVES_MS.index(spec.half_life_ms)
    for lo in range(0, len(targets), chunk):
        batch = targets[lo : lo + chunk]
        pops = next(recent)
        ranked = np.array(pops[half_life], np.float64)
        firsts, lasts = np.empty((len(batch), n_items), np.int64), np.empty((len(batch), n_items), np.int64)
        raws, newests, colds = [], [], []
        for r, t in enumerate(batch):
            end = int(np.searchsorted(times, t.time_ms, side="left"))
            if end > k:
                seen_now = ItemHistory.of(items[k:end], times[k:end], n_items)
                last = np.where(seen_now.last_ms >= 0, seen_now.last_ms, last)
                first = np.where(first >= 0, first, seen_now.first_ms)
                k = end
            firsts[r], lasts[r] = first, last
            raw, newest = case_parts(nb, ease, t.engaged, [p[r] for p in pops], spec, n_items)
            ranked[r, np.asarray(t.engaged, np.int64)] = -np.inf
            colds.append(case_parts(nb, ease, [], [p[r] for p in pops], spec, n_items)[0])
            raws.append(raw)
            newests.append(newest)
        now = np.array([t.time_ms for t in batch], np.int64)
        n_eng = np.array([min(len(t.engaged), spec.engaged) for t in batch])
        user = user_row(n_eng, now, np.array([t.previous_ms for t in batch], np.int64))
        c = features(
            [np.stack([raw[j] for raw in raws]) for j in range(len(PARTS))],
            spec.weights(),
            np.stack(newests),
            np.log1p(history.count).astype(np.float32),
            functools.partial(item_ages, now, firsts, lasts),
            user,
            genres,
            np.stack([taste_of(genres, t.engaged, spec) for t in batch]),
            spec.candidates,
        )
        none = np.zeros(len(batch))
        cold = features(
            [np.stack([raw[j] for raw in colds]) for j in range(len(PARTS))],
            spec.weights(),
            np.zeros((len(batch), n_items), np.float32),
            np.log1p(history.count).astype(np.float32),
            functools.partial(item_ages, now, firsts, lasts),
            user_row(none, now, none.astype(np.int64) - 1),
            genres,
            np.zeros((len(batch), genres.shape[1]), np.float32),
            spec.candidates,
        )
        xs.append(c.x)
        cands.append(c.items)
        cold_xs.append(cold.x)
        cold_items.append(cold.items)
        cold_engaged.append(np.stack([np.isin(i, t.engaged) for i, t in zip(cold.items, batch, strict=True)]))
        popular.append(top_n(ranked, row))
        hit = c.items == np.array([t.item for t in batch])[:, None]
        where.append(np.where(hit.any(1), hit.argmax(1), -1))
    return Cases(
        np.concatenate(xs),
        np.concatenate(where),
        [int(t.user) for t in targets],
        np.concatenate(cands),
        np.concatenate(cold_xs),
        np.concatenate(cold_items),
        np.concatenate(cold_engaged),
        np.concatenate(popular),
    )


def subset(c: Cases, idx: np.ndarray) -> Cases:
    """The cases at ``idx``."""
    users = [c.users[k] for k in idx.tolist()]
    return Cases(**{f.name: users if f.name == "users" else getattr(c, f.name)[idx] for f in fields(Cases)})


def concat(parts: Sequence[Cases]) -> Cases:
    """The cases of ``parts``, one after another."""
    users = [u for c in parts for u in c.users]
    return Cases(
        **{
            f.name: users if f.name == "users" else np.concatenate([getattr(c, f.name) for c in parts])
            for f in fields(Cases)
        }
    )


def popular_rows(cold_scores: np.ndarray, c: Cases, row: int = 20) -> np.ndarray:
    """(cases, row) item positions (−1: short) of each case's "Popular right now" as serving builds it: the cold
    candidates in the fused order without what the user engaged with, then the recent popularity's order."""
    order = np.argsort(-cold_scores, axis=1, kind="stable")
    out = np.full((len(order), row), -1, np.int64)
    for r in range(len(order)):
        head = c.cold_items[r, order[r]][~c.cold_engaged[r, order[r]]]
        got = np.concatenate([head, c.popular[r][~np.isin(c.popular[r], head)]])[:row]
        out[r, : len(got)] = got
    return out


def diversity_choice(
    scores: np.ndarray,
    cold_scores: np.ndarray,
    cases: Cases,
    genres: np.ndarray,
    weights: Sequence[float],
    temperature: float,
    pool: int = 60,
    row: int = 20,
    margin: float = 0.0,
    head: int = 0,
) -> tuple[float, list[dict[str, float]]]:
    """The least of ``weights`` at which FOR_YOU's rows — each case's best ``pool`` candidates by ``scores``
    re-ranked from slot ``head`` + 1 on by :func:`hybridrec.diversity.rerank_rows`, weighing each candidate's
    :func:`confidence` at ``temperature`` against the genre entropy it adds, as serving does — reach the mean
    genre entropy of the cases' popular rows (:func:`popular_rows` by ``cold_scores``: ADR-001's guardrail, a
    personal row no narrower than the popular one), plus ``margin`` bits; the largest when none does. And what each
    weight gave (NDCG@10, entropy@``row``)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :pool]
    top = np.take_along_axis(cases.items, order, axis=1)
    sure = np.take_along_axis(confidence(scores, temperature), order, axis=1)
    g = [genres[t] for t in top]
    want = float(diversity.entropy_bits(popular_rows(cold_scores, cases, row), genres).mean())
    table = []
    for w in weights:
        picks = diversity.rerank_rows(list(sure), g, row, w, slots=row, head=head)
        rows = np.full((len(top), row), -1, np.int64)
        rank = np.full(len(top), -1)
        for r, p in enumerate(picks):
            rows[r, : len(p)] = top[r, p]
            t = cases.target[r]
            hit = np.flatnonzero(rows[r, : len(p)] == cases.items[r, t]) if t >= 0 else ()
            rank[r] = hit[0] if len(hit) else -1
        got = float(diversity.entropy_bits(rows, genres).mean())
        table.append({"weight": float(w), "ndcg@10": ndcg_at_10(rank), "entropy": got, "popular_entropy": want})
    reached = [t["weight"] for t in table if t["entropy"] >= want + margin]
    return (min(reached) if reached else float(max(weights))), table
