"""The offline baselines on the replay's own targets.

Each method's hyper-parameters are chosen on a validation cut inside the history (the history cut again at
``validation_fraction``; its targets selected by the same protocol), by NDCG@10, never on the test period;
then the method is fit on the whole history and asked for every target, fed with everything the user
engaged with before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from evaluation.baselines import CoOccurrence, Ease, ImplicitALS, Method, Popularity, Training, top_k
from hybridrec import metrics, nextitem

K = 20  # the served row's length: every list is scored like a FOR_YOU row of 20


@dataclass(frozen=True)
class Baseline:
    """A method and the grid its hyper-parameters are chosen from."""

    name: str
    make: Callable[..., Method]
    grid: Sequence[dict[str, Any]] = ({},)


BASELINES: tuple[Baseline, ...] = (
    Baseline("popularity (unseen)", Popularity),
    Baseline("EASE", Ease, tuple({"lam": 50.0 * 2**n} for n in range(8))),
    Baseline(
        "ALS (fold-in)", ImplicitALS, tuple({"alpha": a, "reg": r} for a in (2.0, 10.0, 40.0) for r in (0.1, 10.0))
    ),
    Baseline(
        "item-to-item (co-occurrence)",
        CoOccurrence,
        tuple({"window": w, "last": n} for w in (5, 20, 100) for n in (3, 10, 30)),
    ),
)


@dataclass
class BaselineResult:
    name: str
    params: dict[str, Any]
    lists: list[list[str]]  # one per target, best first
    validation: list[tuple[dict[str, Any], float]] = field(default_factory=list)  # params → NDCG@10
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "validation_ndcg@10": [[p, round(v, 5)] for p, v in self.validation],
            "seconds": round(self.seconds, 1),
        }


def histories(train: Training, timeline: nextitem.Timeline, targets: Sequence[nextitem.Target]) -> list[list[int]]:
    """What each target's user engaged with before it (history and fresh events), as training indices."""
    return [train.encode(timeline.engaged_before(t.user_id, t.time_ms)) for t in targets]


def _ndcg(lists: Sequence[Sequence[str]], targets: Sequence[nextitem.Target]) -> float:
    if not targets:
        return 0.0
    return sum(metrics.ndcg_at_k(r, {t.item_id}, 10) for r, t in zip(lists, targets, strict=True)) / len(targets)


@dataclass(frozen=True)
class Validation:
    """The validation cut inside the history: a training part and next-item targets after it."""

    train: Training
    targets: list[nextitem.Target]
    histories: list[list[int]]

    @classmethod
    def inside(cls, history: pa.Table, fraction: float, max_per_user: int | None) -> Validation:
        inner = nextitem.cut(history, fraction)
        targets = nextitem.select_targets(inner.history, inner.live, max_per_user=max_per_user)
        train = Training.from_table(inner.history)
        return cls(train, targets, histories(train, nextitem.Timeline([inner.history, inner.live]), targets))


def run_baselines(
    history: pa.Table,
    timeline: nextitem.Timeline,
    targets: Sequence[nextitem.Target],
    *,
    validation_fraction: float = 0.9,
    max_per_user: int | None = None,
    baselines: Sequence[Baseline] = BASELINES,
    say: Callable[[str], None] = print,
) -> list[BaselineResult]:
    """Every baseline's list of ``K`` items for every target."""
    val = Validation.inside(history, validation_fraction, max_per_user)
    train = Training.from_table(history)
    test = histories(train, timeline, targets)
    say(
        f"  baselines: validation cut inside the history has {len(val.targets):,} targets; "
        f"training on {train.n_items:,} items"
    )
    out = []
    for b in baselines:
        t0 = time.perf_counter()
        scored: list[tuple[dict[str, Any], float]] = []
        if len(b.grid) > 1:
            for params in b.grid:
                m = b.make(**params)
                m.fit(val.train)
                scored.append((params, _ndcg(top_k(m, val.train, val.histories, 10), val.targets)))
        best = max(scored, key=lambda s: s[1])[0] if scored else dict(b.grid[0])
        method = b.make(**best)
        method.fit(train)
        lists = top_k(method, train, test, K)
        out.append(BaselineResult(b.name, best, lists, scored, time.perf_counter() - t0))
        say(f"  {b.name}: {best or 'no parameters'} ({out[-1].seconds:.0f} s)")
    return out
