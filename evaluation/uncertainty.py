"""How sure a replay's comparisons are: a paired bootstrap over users.

A replay scores a few thousand targets, up to 50 of them from one user, so a user's targets are not independent and
a difference of a few per cent between two modes can be noise. Resampling users (all of a user's targets together)
and taking every mode from the same draw keeps both facts: the interval of ``mean(a) / mean(b)`` reflects how much
the ratio moves with the users a replay happened to have, and two modes scored on the same targets are compared
pairwise (their shared per-user difficulty cancels). Pure, but for :func:`save_per_target` / :func:`load_per_target`:
a run's per-target values are saved (``per_target.json``) so that two runs, e.g. before and after a change, can be
compared target by target (``hybridrec eval compare``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridrec import metrics
from hybridrec.nextitem import Target

DRAWS = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A statistic on the replay's users and its percentile interval over the bootstrap draws."""

    value: float
    low: float
    high: float

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {"value": round(self.value, digits), "low": round(self.low, digits), "high": round(self.high, digits)}


def ndcg_per_target(lists: Sequence[Sequence[str]], targets: Sequence[Target], k: int = 10) -> np.ndarray:
    """NDCG@k of each target's one engaged item in its list (:func:`hybridrec.metrics.ndcg_at_k`)."""
    return np.array([metrics.ndcg_at_k(r, {t.item_id}, k) for r, t in zip(lists, targets, strict=True)], np.float64)


class Bootstrap:
    """One set of user draws shared by every statistic asked of it, so that all of a replay's intervals (and the
    two sides of each ratio) come from the same resampled users."""

    def __init__(self, users: Sequence[str], draws: int = DRAWS, seed: int = 0) -> None:
        names, self._of = np.unique(np.asarray(users, dtype=object).astype(str), return_inverse=True)
        self._n = len(names)
        rng = np.random.default_rng(seed)
        # how often each user is drawn in each resample (draws × users), the same users for every statistic
        picks = rng.integers(0, self._n, (draws, self._n)) if self._n else np.zeros((draws, 0), np.int64)
        self._weights = np.stack([np.bincount(p, minlength=self._n) for p in picks]).astype(np.float64)
        self._targets = np.bincount(self._of, minlength=self._n).astype(np.float64)

    @property
    def users(self) -> int:
        """How many distinct users are resampled."""
        return self._n

    def _per_user(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self._of, weights=np.asarray(values, np.float64), minlength=self._n)

    def mean(self, values: np.ndarray, level: float = LEVEL) -> Interval:
        """The mean over targets."""
        total, count = self._per_user(values), self._targets
        return _interval(total.sum() / max(count.sum(), 1.0), (self._weights @ total) / (self._weights @ count), level)

    def ratio(self, a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> Interval:
        """``mean(a) / mean(b)`` over the same targets (``b``'s mean 0: NaN)."""
        ta, tb = self._per_user(a), self._per_user(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = ta.sum() / tb.sum() if tb.sum() else np.nan
            draws = (self._weights @ ta) / (self._weights @ tb)
        return _interval(float(value), draws, level)


def ratio_label(name: str, ratio: Mapping[str, Any]) -> str:
    """A ratio of :func:`comparisons` as the report and the printed table name it (the best baseline by name)."""
    return name.replace("best baseline", f"best baseline ({ratio['baseline']})") if "baseline" in ratio else name


def _interval(value: float, draws: np.ndarray, level: float) -> Interval:
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Interval(value, np.nan, np.nan)
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(value), float(lo), float(hi))


def comparisons(
    per_target: Mapping[str, np.ndarray],
    targets: Sequence[Target],
    served: Sequence[str],
    baselines: Sequence[str],
    draws: int = DRAWS,
    seed: int = 0,
) -> dict[str, object]:
    """NDCG@10 of every mode with its interval, and the ratios a replay is judged by: the served hybrid against the
    served batch-only and popularity, and against the best offline baseline (the highest NDCG@10 on these targets),
    each with its interval from one paired bootstrap over users."""
    boot = Bootstrap([t.user_id for t in targets], draws, seed)
    out: dict[str, object] = {
        "level": LEVEL,
        "draws": draws,
        "users": boot.users,
        "ndcg@10": {mode: boot.mean(v).as_dict() for mode, v in per_target.items()},
    }
    ratios: dict[str, dict[str, object]] = {}
    hybrid = per_target.get("hybrid")
    if hybrid is not None:
        for other in (m for m in served if m != "hybrid" and m in per_target):
            ratios[f"hybrid / {other}"] = boot.ratio(hybrid, per_target[other]).as_dict(3)
        present = [b for b in baselines if b in per_target]
        if present:
            best = max(present, key=lambda b: float(per_target[b].mean()))
            ratios["hybrid / best baseline"] = {"baseline": best, **boot.ratio(hybrid, per_target[best]).as_dict(3)}
    out["ratios"] = ratios
    return out


@dataclass(frozen=True)
class PerTarget:
    """One replay's targets (user, item, time ms) and each mode's NDCG@10 on each: what two runs are paired on."""

    keys: list[tuple[str, str, int]]
    ndcg: Mapping[str, np.ndarray]


def save_per_target(got: PerTarget, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "targets": [list(k) for k in got.keys],
                "ndcg@10": {m: np.round(v, 6).tolist() for m, v in got.ndcg.items()},
            }
        )
    )
    return path


def load_per_target(path: Path) -> PerTarget:
    raw = json.loads(path.read_text())
    keys = [(str(u), str(i), int(t)) for u, i, t in raw["targets"]]
    return PerTarget(keys, {m: np.asarray(v, np.float64) for m, v in raw["ndcg@10"].items()})


def compare_runs(
    a: PerTarget, b: PerTarget, modes: Sequence[str] | None = None, draws: int = DRAWS, seed: int = 0
) -> dict[str, Any]:
    """Each mode both runs served: NDCG@10 of run ``a`` and of run ``b`` on the targets they share and ``b / a`` with
    its interval, from one paired bootstrap over those targets' users (the same targets on both sides: what a
    change did, without the users a cut happens to have). What it does not hold: each run trains its own batch, so
    two runs of the same code differ too (about 1 % on one cut, docs/benchmarks.md session 16)."""
    where_b = {k: n for n, k in enumerate(b.keys)}
    pairs = [(n, where_b[k]) for n, k in enumerate(a.keys) if k in where_b]
    ia = np.array([p for p, _ in pairs], np.int64)
    ib = np.array([q for _, q in pairs], np.int64)
    boot = Bootstrap([a.keys[n][0] for n in ia.tolist()], draws, seed)
    shared = [m for m in (modes or list(a.ndcg)) if m in a.ndcg and m in b.ndcg]
    out: dict[str, Any] = {
        "targets": {"a": len(a.keys), "b": len(b.keys), "shared": len(pairs)},
        "users": boot.users,
        "level": LEVEL,
        "draws": draws,
        "modes": {},
    }
    for m in shared:
        va, vb = a.ndcg[m][ia], b.ndcg[m][ib]
        out["modes"][m] = {
            "a": round(float(va.mean()), 4) if len(va) else float("nan"),
            "b": round(float(vb.mean()), 4) if len(vb) else float("nan"),
            "b / a": boot.ratio(vb, va).as_dict(4),
        }
    return out
