"""FOR_YOU's prior weights chosen per model version on a validation cut inside the batch window.

The prior (``serving.logic.prior``) fuses three parts: the co-occurrence lists of the user's newest engagements,
EASE's lists of everything they engaged with and the items' recent popularity (the speed layer's decayed count).
No fixed weighting suits every catalogue (offline the best recent-popularity half-life was 7 days on ML-100K and
365 on ml-latest-small, docs/benchmarks.md), so the nightly batch fits both lists again on the window's first
part, replays its last part as next-item targets (each scored from the user's engagements just before it, as
serving sees them) and keeps the grid point with the best NDCG@10. Only what serving can apply is chosen: the
weights, and a half-life among those the speed layer stores (a decayed count cannot be re-decayed with another
half-life). Never the test period: the window ends where the nightly run's data ends.

Pure: engagements and list builders in, a :class:`Choice` out; the batch does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridrec import neighbours, sequence

ListBuilder = Callable[[Sequence[np.ndarray]], neighbours.Neighbours | None]
"""Users' engagement sequences (item positions, oldest first) → neighbour lists (None: the part is off)."""


@dataclass(frozen=True)
class Engagements:
    """The window's engagements in stream order (time, then event id): user index, item position, time (ms)."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def slice(self, lo: int, hi: int) -> Engagements:
        return Engagements(self.users[lo:hi], self.items[lo:hi], self.times[lo:hi])

    def sequences(self) -> list[np.ndarray]:
        """Each user's item positions, oldest first (users in index order; positions −1 left out)."""
        if not len(self.items):
            return []
        order = np.argsort(self.users, kind="stable")
        users, items = self.users[order], self.items[order]
        cuts = np.flatnonzero(users[1:] != users[:-1]) + 1
        return [s[s >= 0] for s in np.split(items, cuts)]


@dataclass(frozen=True)
class Target:
    """One validation case: the row of the engagement to predict and the user's distinct items before it,
    newest first."""

    row: int
    item: int
    time_ms: int
    engaged: list[int]
    user: int = -1
    previous_ms: int = -1  # the user's newest engagement before it (−1: none)


@dataclass(frozen=True)
class Grid:
    """Weights tried (EASE, recent popularity; co-occurrence takes the rest of 1) and half-lives (ms)."""

    weights: tuple[tuple[float, float], ...]
    half_lives_ms: tuple[int, ...]

    def points(self) -> Iterator[tuple[float, float, int]]:
        for h in self.half_lives_ms:
            for e, r in self.weights:
                yield e, r, h


@dataclass(frozen=True)
class Choice:
    """The chosen point, its validation NDCG@10 and every point's, for the version's manifest."""

    ease_weight: float
    recent_popularity_weight: float
    half_life_ms: int
    ndcg: float
    targets: int
    scored: list[tuple[float, float, int, float]] = field(default_factory=list)

    def as_manifest(self) -> dict[str, Any]:
        return {
            "ease_weight": self.ease_weight,
            "recent_popularity_weight": self.recent_popularity_weight,
            "recent_popularity_half_life_ms": self.half_life_ms,
            "validation_ndcg@10": round(self.ndcg, 5),
            "validation_targets": self.targets,
            "grid": [[e, r, h, round(n, 5)] for e, r, h, n in self.scored],
        }


def validation_targets(e: Engagements, cut: int, max_per_user: int, max_targets: int) -> list[Target]:
    """Engagements from row ``cut`` on of an item engaged before the cut and new to the user (at most
    ``max_per_user`` each, first ones), thinned evenly to ``max_targets``; each with the user's distinct
    engagements strictly before its time, newest first."""
    known = np.zeros(int(e.items.max()) + 1 if len(e) else 0, bool)
    known[e.items[:cut][e.items[:cut] >= 0]] = True
    history: dict[int, list[tuple[int, int]]] = {}
    seen: dict[int, set[int]] = {}
    for u, i, t in zip(e.users[:cut].tolist(), e.items[:cut].tolist(), e.times[:cut].tolist(), strict=True):
        history.setdefault(u, []).append((t, i))
        seen.setdefault(u, set()).add(i)
    out: list[Target] = []
    taken: dict[int, int] = {}
    for row in range(cut, len(e)):
        u, i, t = int(e.users[row]), int(e.items[row]), int(e.times[row])
        past, had = history.setdefault(u, []), seen.setdefault(u, set())
        if i >= 0 and known[i] and i not in had and taken.get(u, 0) < max_per_user:
            earlier = [(s, j) for s, j in past if s < t]
            before = [j for _, j in earlier if j >= 0]
            previous = earlier[-1][0] if earlier else -1
            out.append(Target(row, i, t, list(dict.fromkeys(reversed(before))), u, previous))
            taken[u] = taken.get(u, 0) + 1
        past.append((t, i))
        had.add(i)
    if len(out) > max_targets:
        out = [out[k] for k in np.linspace(0, len(out) - 1, max_targets).round().astype(int)]
    return out


def decayed_popularity(e: Engagements, targets: Sequence[Target], n_items: int, half_life_ms: float) -> np.ndarray:
    """(targets, items): log(1 + Σ 2^-(T − t)/half-life) over all engagements before each target's time T: the
    speed layer's decayed count as serving reads it. Targets in time order; one pass over the events."""
    out = np.zeros((len(targets), n_items), np.float32)
    count, at, k = np.zeros(n_items), 0.0, 0
    times = e.times.astype(np.float64)
    for r, tg in enumerate(targets):
        end = int(np.searchsorted(times, tg.time_ms, side="left"))
        count *= np.exp2(-(tg.time_ms - at) / half_life_ms)
        new = slice(k, max(k, end))
        items = e.items[new]
        keep = items >= 0
        w = np.exp2(-(tg.time_ms - times[new][keep]) / half_life_ms)
        count += np.bincount(items[keep], weights=w, minlength=n_items)
        at, k = float(tg.time_ms), max(k, end)
        out[r] = np.log1p(count)
    return out


def ndcg_at_10(scores: np.ndarray, targets: Sequence[Target]) -> np.ndarray:
    """NDCG@10 of each row's one target item (engaged items already −inf; ties count against the target)."""
    item = np.array([t.item for t in targets])
    st = scores[np.arange(len(targets)), item]
    rank = (scores >= st[:, None]).sum(1) - 1
    return np.where((rank < 10) & np.isfinite(st), 1.0 / np.log2(rank + 2), 0.0)


def choose(
    e: Engagements,
    n_items: int,
    co_occurrence: ListBuilder,
    ease: ListBuilder,
    grid: Grid,
    *,
    validation_fraction: float = 0.1,
    seeds: int = 10,
    decay: float = 0.7,
    engaged: int = 200,
    max_per_user: int = 50,
    max_targets: int = 5_000,
    chunk: int = 500,
) -> Choice | None:
    """The grid point with the best validation NDCG@10 (ties: the earlier point), or None without targets. The
    last ``validation_fraction`` of the engagements are the validation period; both lists are fit on the rest.
    ``seeds``, ``decay``, ``engaged``: how serving scores the lists (its ``i2i_seeds`` and ``i2i_decay``, and the
    speed layer's 200 ``engaged_items``)."""
    cut = int(len(e) * (1.0 - validation_fraction))
    while 0 < cut < len(e) and e.times[cut] == e.times[cut - 1]:
        cut += 1  # one millisecond stays on one side
    targets = validation_targets(e, cut, max_per_user, max_targets)
    if not targets or cut == 0:
        return None
    seqs = e.slice(0, cut).sequences()
    nb, ez = co_occurrence(seqs), ease(seqs)
    points = list(grid.points())
    total = np.zeros(len(points))
    for lo in range(0, len(targets), chunk):
        batch = targets[lo : lo + chunk]
        seen = np.zeros((len(batch), n_items), bool)
        for r, t in enumerate(batch):
            seen[r, t.engaged] = True
        parts = [
            _scaled([neighbours.score_all(nb, t.engaged[:seeds], decay) for t in batch] if nb else None, seen),
            _scaled([neighbours.score_all(ez, t.engaged[:engaged], 1.0) for t in batch] if ez else None, seen),
        ]
        recent = {h: _scaled(decayed_popularity(e, batch, n_items, h), seen) for h in grid.half_lives_ms}
        for p, (we, wr, h) in enumerate(points):
            fused = (1.0 - we - wr) * parts[0] + we * parts[1] + wr * recent[h]
            total[p] += ndcg_at_10(np.where(seen, -np.inf, fused), batch).sum()
    mean = total / len(targets)
    best = int(np.argmax(mean))
    we, wr, h = points[best]
    scored = [(a, b, c, float(m)) for (a, b, c), m in zip(points, mean, strict=True)]
    return Choice(we, wr, h, float(mean[best]), len(targets), scored)


def _scaled(rows: Sequence[np.ndarray] | np.ndarray | None, seen: np.ndarray) -> np.ndarray:
    """Rows min-max scaled over each row's unseen items (:func:`hybridrec.sequence.minmax`); zeros without a part."""
    if rows is None:
        return np.zeros(seen.shape, np.float64)
    s = np.where(seen, np.nan, np.asarray(rows, np.float64))
    return sequence.minmax(s)
