"""Offline: where each of FOR_YOU's candidate parts ranks the replay's targets, by kind of user, and what other
candidate sources would add (issue #15, session 16: the served hybrid is weakest for returning users).

On exactly the replay's cut and test targets (:class:`benchmarks.ensemble_quality.Cell`), every part scored as the
served prior scores it — co-occurrence lists from the newest 10 engagements, EASE lists from the newest 200, the
recent popularity decayed at 7 / 30 / 365 days, all-time popularity — and the prior's min-max blend over a grid of
weights; then sources the prior does not have: user-kNN (cosine over the history's users, their items weighted by
similarity), implicit ALS with fold-in, a popularity-propensity term (how far an item's log popularity is from the
user's own mean), and the co-occurrence lists refit every ``--refit-days`` with the live period's engagements
(what a streaming or more frequent batch would give). Ranks count ties against the target, as the harness does.
Printed per part and segment (returning / new users): NDCG@10, recall at 10 / 50 / 100 / 200 and, for the extra
sources, the recall of the prior's best 100 joined with theirs.

    .venv/bin/python -u benchmarks/candidate_recall.py --dataset ml-100k --fraction 0.95 [--json out.json]
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import json

import numpy as np

from benchmarks import ensemble_quality as eq
from benchmarks.i2i_quality import EASE, SYMMETRIC
from benchmarks.sequence_quality import arguments, run_cells
from evaluation.baselines import ImplicitALS, Training
from hybridrec import neighbours, nextitem, sequence

CUTS = (10, 50, 100, 200)
ANY = "the target in any part's best 100"
PRIOR_GRID = ((0.3, 0.2), (0.2, 0.2), (0.3, 0.1), (0.2, 0.3), (0.1, 0.2), (0.4, 0.2), (0.3, 0.3), (0.5, 0.2))


def target_ranks(scores: np.ndarray, item: np.ndarray, hists: Sequence[Sequence[int]]) -> np.ndarray:
    """0-based rank of each row's target among the items its user had not engaged with (ties count against it)."""
    s = eq.without_seen(np.nan_to_num(scores, nan=-np.inf), hists)
    st = s[np.arange(len(item)), item]
    return np.where(np.isfinite(st), (s >= st[:, None]).sum(1) - 1, 10**6)


def summary(rank: np.ndarray, segments: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "ndcg@10": round(float(np.where(rank[m] < 10, 1 / np.log2(rank[m] + 2), 0.0).mean()), 4),
            **{f"recall@{k}": round(float((rank[m] < k).mean()), 3) for k in CUTS},
        }
        for name, m in segments.items()
    }


def minmax(scores: np.ndarray, hists: Sequence[Sequence[int]]) -> np.ndarray:
    """Each row min-max scaled over its user's unengaged items (engaged: NaN), as the served prior scales a part."""
    s = eq.without_seen(scores, hists).astype(np.float64)
    return sequence.minmax(np.where(np.isfinite(s), s, np.nan))


def user_knn(train: Training, hists: Sequence[Sequence[int]], users: Sequence[str], k: int) -> np.ndarray:
    """Σ over the user's ``k`` most similar history users (cosine of engaged-item sets; the user's own history row
    left out) of similarity × their items."""
    names = list(train.sequences)
    x = np.zeros((len(names), train.n_items), np.float32)
    for r, u in enumerate(names):
        x[r, train.sequences[u]] = 1.0
    norms = np.sqrt(x.sum(1)) + 1e-9
    me = {u: r for r, u in enumerate(names)}
    out = np.zeros((len(hists), train.n_items), np.float32)
    for r, (h, u) in enumerate(zip(hists, users, strict=True)):
        if not h:
            continue
        v = np.zeros(train.n_items, np.float32)
        v[list(set(h))] = 1.0
        sim = x @ v / (norms * math.sqrt(v.sum()))
        if u in me:
            sim[me[u]] = 0.0
        top = np.argpartition(-sim, min(k, len(sim) - 1))[:k]
        out[r] = sim[top] @ x[top]
    return out


def refit_cooccurrence(cell: eq.Cell, every_days: float) -> Callable[[int], neighbours.Neighbours]:
    """Co-occurrence lists (the served method) fit on every engagement before the live period's last refit point
    before a time: refit every ``every_days`` from the cut."""
    train, ev = cell.train, cell.test_events
    engaged = np.isin(ev.column("event_type").to_numpy(zero_copy_only=False), list(nextitem.ENGAGEMENT_TYPES))
    users = np.array(ev.column("user_id").to_pylist(), dtype=object)[engaged]
    items = np.array([train.index.get(i, -1) for i in ev.column("item_id").to_pylist()], np.int64)[engaged]
    times = ev.column("event_time_ms").to_numpy()[engaged]
    split = min(t.time_ms for t in cell.targets)
    step = every_days * 86_400_000
    cache: dict[int, neighbours.Neighbours] = {}

    def at(time_ms: int) -> neighbours.Neighbours:
        k = int((time_ms - split) // step)
        if k not in cache:
            keep = (times < split + k * step) & (items >= 0)
            seqs: dict[str, list[int]] = {}
            for u, i in zip(users[keep], items[keep], strict=True):
                seqs.setdefault(u, []).append(int(i))
            counts = np.bincount(items[keep], minlength=train.n_items).astype(np.float64)
            cache[k] = neighbours.cooccurrence(seqs.values(), counts, SYMMETRIC["window"], 100)
        return cache[k]

    return at


def run(dataset: str, fraction: float, args: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    cell = eq.Cell.of(dataset, fraction, args.max_targets_per_user)
    train, hists, targets = cell.train, cell.test_histories, cell.targets
    item = np.array([train.index[t.item_id] for t in targets])
    returning = np.array([t.returning for t in targets])
    segments = {"all": np.ones(len(targets), bool), "returning": returning, "new": ~returning}
    lengths = np.array([len(h) for h in hists])
    out: dict[str, Any] = {
        "dataset": dataset,
        "fraction": fraction,
        "targets": {k: int(m.sum()) for k, m in segments.items()},
        "median history": {k: float(np.median(lengths[m])) for k, m in segments.items()},
        "median target item engagements": {k: float(np.median(train.counts[item[m]])) for k, m in segments.items()},
    }
    print(f"{dataset} @ {fraction}: {out['targets']}, {out['median history']}", flush=True)
    nb = neighbours.cooccurrence(train.sequences.values(), train.counts, SYMMETRIC["window"], 100)
    ez = neighbours.ease(train.sequences.values(), train.n_items, EASE["lam"], EASE["k"], 10_000)
    raw = {
        "co-occurrence": np.stack([neighbours.score_all(nb, eq.newest_distinct(h, 10), 0.7) for h in hists]),
        "EASE": np.stack([neighbours.score_all(ez, eq.newest_distinct(h, 200), 1.0) for h in hists]),
        **{
            f"recent popularity {d} d": eq.decayed_popularity(cell.test_events, targets, train, half_life_days=d)
            for d in (7, 30, 365)
        },
        "all-time popularity": np.tile(np.log1p(train.counts).astype(np.float32), (len(targets), 1)),
    }
    ranks = {name: target_ranks(s, item, hists) for name, s in raw.items()}
    out["parts"] = {name: summary(r, segments) for name, r in ranks.items()}
    best = np.min(np.stack(list(ranks.values())), axis=0)
    out[ANY] = {k: round(float((best[m] < 100).mean()), 3) for k, m in segments.items()}
    scaled = {k: minmax(raw[k], hists) for k in ("co-occurrence", "EASE", "recent popularity 30 d")}
    out["prior"] = {}
    for we, wr in PRIOR_GRID:
        fused = (1 - we - wr) * scaled["co-occurrence"] + we * scaled["EASE"] + wr * scaled["recent popularity 30 d"]
        out["prior"][f"EASE {we}, recent {wr}"] = summary(target_ranks(fused, item, hists), segments)
    prior = 0.5 * scaled["co-occurrence"] + 0.3 * scaled["EASE"] + 0.2 * scaled["recent popularity 30 d"]
    prior_rank = target_ranks(prior, item, hists)

    def joined(rank: np.ndarray, k: int) -> dict[str, float]:
        both = (prior_rank < 100) | (rank < k)
        return {s: round(float(both[m].mean()), 3) for s, m in segments.items()}

    extra: dict[str, Any] = {}
    users = [t.user_id for t in targets]
    for k in args.knn:
        r = target_ranks(user_knn(train, hists, users, k), item, hists)
        extra[f"user-kNN {k}"] = {**summary(r, segments), "prior@100 ∪ its 50": joined(r, 50)}
    for f, reg, alpha in ((64, 1.0, 10.0), (32, 1.0, 5.0)):
        als = ImplicitALS(factors=f, reg=reg, alpha=alpha)
        als.fit(train)
        r = target_ranks(als.scores(hists), item, hists)
        extra[f"ALS {f} factors, reg {reg}, alpha {alpha}"] = {
            **summary(r, segments),
            "prior@100 ∪ its 50": joined(r, 50),
        }
    extra["prior's best 150"] = {s: round(float((prior_rank[m] < 150).mean()), 3) for s, m in segments.items()}
    log_pop = np.log1p(train.counts)
    mean = np.array([log_pop[list(set(h))].mean() if h else log_pop.mean() for h in hists])
    spread = np.array([log_pop[list(set(h))].std() if len(h) > 2 else 1.0 for h in hists])
    gap = np.abs(log_pop[None, :] - mean[:, None]) / (spread[:, None] + 0.5)
    for beta in (0.02, 0.05, 0.1):
        extra[f"prior − {beta} × popularity gap"] = summary(target_ranks(prior - beta * gap, item, hists), segments)
    nb_at = refit_cooccurrence(cell, args.refit_days)
    fresh = np.stack(
        [
            neighbours.score_all(nb_at(t.time_ms), eq.newest_distinct(h, 10), 0.7)
            for h, t in zip(hists, targets, strict=True)
        ]
    )
    refit = 0.5 * minmax(fresh, hists) + 0.3 * scaled["EASE"] + 0.2 * scaled["recent popularity 30 d"]
    extra[f"co-occurrence refit every {args.refit_days} d"] = summary(target_ranks(fresh, item, hists), segments)
    extra[f"prior with it (refit every {args.refit_days} d)"] = summary(target_ranks(refit, item, hists), segments)
    out["prior (0.5 / 0.3 / 0.2)"] = summary(prior_rank, segments)
    out["other sources"] = extra
    out["seconds"] = round(time.perf_counter() - t0, 1)
    for key in ("parts", "prior", "other sources"):
        for name, got in out[key].items():
            print(f"  {key}: {name}: {json.dumps(got)}", flush=True)
    print(f"  prior (0.5 / 0.3 / 0.2): {json.dumps(out['prior (0.5 / 0.3 / 0.2)'])}", flush=True)
    print(f"  any part's best 100: {out[ANY]}", flush=True)
    return out


def main() -> int:
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--knn", type=int, nargs="+", default=[50, 100])
    ap.add_argument("--refit-days", type=float, default=1.0)
    ap.set_defaults(fraction=[0.95], dataset=["ml-100k"])
    return run_cells(ap.parse_args(), run)


if __name__ == "__main__":
    raise SystemExit(main())
