"""Offline try of a stronger item-to-item part for FOR_YOU's prior (issue #15, session 9), on the replay's targets.

The served ensemble (co-occurrence lists + EASE lists + decayed recent popularity, :mod:`benchmarks.ensemble_quality`
``--served``) stops near 1.12× the best baseline on ML-100K offline, so the 1.2× goal needs a stronger part. This
scores :func:`hybridrec.neighbours.cooccurrence` with its direction and norm as parameters — ``backward`` (weight of
a pair read against time; 1 = symmetric) × ``alpha`` (asymmetric cosine exponent; 0.5 = cosine) × ``window`` —
as the batch would publish it (best 100 per item) and serving would read it (newest 10 distinct engagements, decay
0.7), each grid point chosen by the validation NDCG@10 of the *served ensemble* it would sit in (the shipped
weights 0.5 / 0.3 / 0.2, EASE λ 200, half-life 30 days) on the cut inside the history, never on the test period.

Prints, on the test targets, NDCG@10 / HR@10 / Recall@20 of: the item-to-item baseline (symmetric, every
neighbour kept, window × last chosen on validation as the replay does), the served symmetric part and the chosen
directed part alone, and the served ensemble with each at the shipped weights and at weights chosen on validation.

    .venv/bin/python benchmarks/i2i_quality.py [--dataset ml-100k ml-latest-small] [--fraction 0.8 0.9 0.95] \
        [--grid '[{"window": 100, "backward": 1, "alpha": 0.7, "damping": 0, "k": 300, "seeds": 30, "decay": 0.85}]'] \
        [--joint] [--json out.json]

``--grid`` replaces the default grid (``damping``, ``k``, ``seeds`` and ``decay`` default to the published and served
values); ``--joint`` chooses each grid point's ensemble weights on validation too, and the point by that figure.
Figures and what they showed: docs/benchmarks.md, *session 9*.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks import ensemble_quality as eq
from benchmarks.sequence_quality import arguments, headline, print_run
from evaluation.baselines import CoOccurrence
from hybridrec import neighbours, sequence

SHIPPED = (0.5, 0.3, 0.2)  # serving's co-occurrence / ease_weight / recent_popularity_weight
EASE = {"lam": 200.0, "k": 100}  # batch.ease
HALF_LIFE = {"half_life_days": 30}  # the speed layer's popularity_recent
SEEDS, DECAY, K = 10, 0.7, 100  # serving's i2i_seeds / i2i_decay, batch.neighbours.k
SYMMETRIC = {"window": 100, "backward": 1.0, "alpha": 0.5}  # batch.neighbours today
GRID: tuple[dict[str, Any], ...] = tuple(
    {"window": w, "backward": b, "alpha": a}
    for w, b, a in itertools.product((20, 100), (0.0, 0.25, 0.5, 1.0), (0.3, 0.5, 0.7))
)


def i2i(train: eq.Training, hists: list[list[int]], params: dict[str, Any]) -> np.ndarray:
    """The co-occurrence part as published (best ``K`` per item) and served (newest ``SEEDS``, ``DECAY``)."""
    nb = neighbours.cooccurrence(
        train.sequences.values(),
        train.counts,
        params["window"],
        params.get("k", K),
        backward=params["backward"],
        alpha=params["alpha"],
        damping=params.get("damping", 0.0),
    )
    seeds, decay = params.get("seeds", SEEDS), params.get("decay", DECAY)
    return np.stack([neighbours.score_all(nb, eq.newest_distinct(h, seeds), decay) for h in hists])


def scaled(raw: np.ndarray, hists: list[list[int]]) -> np.ndarray:
    return sequence.minmax(eq.without_seen(raw, hists))


def best_weights(parts: list[np.ndarray], seen: np.ndarray, items: np.ndarray, step: float) -> tuple[float, ...]:
    """The simplex weighting of ``parts`` (validation, min-max scaled) with the best validation NDCG@10."""

    def score(ws: tuple[float, ...]) -> float:
        return eq.ndcg_fast(seen + sum(w * p for w, p in zip(ws, parts, strict=True)), items)

    return max(eq.simplex(len(parts), step), key=score)


def run(
    dataset: str,
    fraction: float,
    max_per_user: int,
    step: float,
    grid_points: tuple[dict[str, Any], ...] = GRID,
    joint: bool = False,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    cell = eq.Cell.of(dataset, fraction, max_per_user)
    vt, tt, vh, th = cell.val.train, cell.train, cell.val.histories, cell.test_histories
    vi = np.array([vt.index[t.item_id] for t in cell.val.targets])
    print(f"{dataset} @ {fraction}: {len(cell.targets):,} targets, validation {len(vi):,}", flush=True)
    seen = np.where(eq.without_seen(np.zeros((len(vh), vt.n_items), np.float32), vh) < 0, -np.inf, 0.0)
    base = eq.choose(
        "item-to-item baseline",
        eq.GRIDS[CoOccurrence],
        eq.fitted_scores(CoOccurrence, vt, vh),
        eq.fitted_scores(CoOccurrence, tt, th),
        cell,
        vi,
    )
    ease_v, ease_t = (scaled(eq.served_ease(t, h)(EASE), h) for t, h in ((vt, vh), (tt, th)))
    pop_v = scaled(eq.decayed_popularity(cell.val_events, cell.val.targets, vt, **HALF_LIFE), vh)
    pop_t = scaled(eq.decayed_popularity(cell.test_events, cell.targets, tt, **HALF_LIFE), th)
    grid: list[dict[str, Any]] = []
    for params in grid_points:
        v = scaled(i2i(vt, vh, params), vh)
        ens = eq.ndcg_fast(seen + SHIPPED[0] * v + SHIPPED[1] * ease_v + SHIPPED[2] * pop_v, vi)
        grid.append({**params, "alone": round(eq.ndcg_fast(seen + v, vi), 5), "ensemble": round(ens, 5)})
        if joint:  # the part's best weighting too, so a part that overlaps the others is not judged at theirs
            ws = best_weights([v, ease_v, pop_v], seen, vi, step)
            grid[-1]["joint"] = round(eq.ndcg_fast(seen + ws[0] * v + ws[1] * ease_v + ws[2] * pop_v, vi), 5)
            grid[-1]["joint_weights"] = ws
        print(f"  {grid[-1]}", flush=True)
    chosen = max(grid, key=lambda g: g["joint" if joint else "ensemble"])
    params = {k: v for k, v in chosen.items() if k not in ("alone", "ensemble", "joint", "joint_weights")}
    out: dict[str, Any] = {"dataset": dataset, "fraction": fraction, "targets": len(cell.targets), "methods": {}}
    out["methods"]["item-to-item baseline"] = {
        **headline(eq.lists(base.test_raw, tt, th), cell.targets),
        "params": base.params,
    }
    for name, p in (("symmetric", SYMMETRIC), ("directed", params)):
        raw_t = i2i(tt, th, p)
        part_t, part_v = scaled(raw_t, th), scaled(i2i(vt, vh, p), vh)
        out["methods"][f"i2i {name} (served) alone"] = {
            **headline(eq.lists(eq.without_seen(raw_t, th), tt, th), cell.targets),
            "params": p,
        }
        fused = SHIPPED[0] * part_t + SHIPPED[1] * ease_t + SHIPPED[2] * pop_t
        out["methods"][f"ensemble {name}, shipped weights"] = {
            **headline(eq.lists(fused, tt, th), cell.targets),
            "params": SHIPPED,
        }
        ws = best_weights([part_v, ease_v, pop_v], seen, vi, step)
        fused = ws[0] * part_t + ws[1] * ease_t + ws[2] * pop_t
        out["methods"][f"ensemble {name}, chosen weights"] = {
            **headline(eq.lists(fused, tt, th), cell.targets),
            "params": ws,
        }
    out["validation_grid"] = grid
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> int:
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--step", type=float, default=0.1, help="grid step of the parts' weights")
    ap.add_argument("--grid", type=json.loads, default=None, help="JSON list of co-occurrence parameter dicts")
    ap.add_argument("--joint", action="store_true", help="choose each grid point's ensemble weights too")
    args = ap.parse_args()
    runs = []
    for dataset in args.dataset:
        for fraction in args.fraction:
            r = run(dataset, fraction, args.max_targets_per_user, args.step, tuple(args.grid or GRID), args.joint)
            runs.append(r)
            print_run(r, r["methods"]["item-to-item baseline"]["ndcg@10"], "× base")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
