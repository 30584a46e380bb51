"""Offline try of a score-fusion ensemble (issue #15, direction 2) on exactly the replay's targets.

Each signal that is strong on its own is a *part*: the item-to-item co-occurrence neighbours (the best replay
baseline, what FOR_YOU serves today), EASE's item-item weights over everything the user engaged with, the
popularity of the newest engagements of all users before the target (what the speed layer's trending windows
know at that moment), and optionally the sequence model of :mod:`hybridrec.sequence`. Every part's
hyper-parameters, and then the parts' weights (a grid over the simplex), are chosen by NDCG@10 on the
validation cut inside the history (:class:`evaluation.offline.Validation`, the replay baselines' own cut), never
on the test period; the fused score is :func:`hybridrec.sequence.blend_many` (per user, each part min-max
scaled over the items the user has not engaged with). Prints NDCG@10 / HR@10 / Recall@20 of every part alone
and of the chosen ensemble, and the ensemble's ratio to the best single baseline (item-to-item or EASE).

    .venv/bin/python benchmarks/ensemble_quality.py [--dataset ml-100k ml-latest-small] \
        [--fraction 0.8 0.9 0.95] [--seq '[{"encoder": "gru", "epochs": 20}]'] [--served] [--json out.json]

``--served``: the parts as serving computes them — the published co-occurrence lists (best 100 per item), EASE's
published lists (:func:`hybridrec.neighbours.ease`, best 100 positive weights per item) and the recent popularity
decayed in stream time as the speed layer's ``popularity_recent`` (a half-life instead of the newest N).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from benchmarks.sequence_quality import arguments, headline, print_run  # noqa: E402
from evaluation.baselines import CoOccurrence, Ease, Method, Training, top_k  # noqa: E402
from evaluation.baselines.sequence import NextItem  # noqa: E402
from evaluation.offline import BASELINES, K, Validation, histories  # noqa: E402
from hybridrec import neighbours, nextitem, prior_choice, sequence  # noqa: E402
from hybridrec.datasets import load_dataset  # noqa: E402

GRIDS = {b.make: b.grid for b in BASELINES}
RECENT_GRID: tuple[dict[str, Any], ...] = tuple({"last": n} for n in (2_000, 10_000, 30_000))
DAY_MS = 86_400_000
# --served: the parts as serving computes them (batch's published lists, the speed layer's decayed counts)
SERVED_I2I_GRID: tuple[dict[str, Any], ...] = tuple({"seeds": n} for n in (10, 30))
SERVED_EASE_GRID: tuple[dict[str, Any], ...] = tuple({"lam": 50.0 * 2**n, "k": 100} for n in range(8))
DECAYED_GRID: tuple[dict[str, Any], ...] = tuple({"half_life_days": d} for d in (1, 3, 7, 14, 30))


@dataclass(frozen=True)
class Cell:
    """One dataset at one history fraction: training sets, histories and targets of validation and test."""

    val: Validation
    val_events: pa.Table  # stream of the validation cut (its history and live period)
    train: Training
    test_histories: list[list[int]]
    targets: list[nextitem.Target]
    test_events: pa.Table

    @classmethod
    def of(cls, dataset: str, fraction: float, max_per_user: int) -> Cell:
        events = pa.Table.from_batches(list(load_dataset(dataset).batches(65_536)))
        c = nextitem.cut(events, fraction)
        targets = nextitem.select_targets(c.history, c.live, max_per_user=max_per_user)
        train = Training.from_table(c.history)
        test = histories(train, nextitem.Timeline([c.history, c.live]), targets)
        val = Validation.inside(c.history, 0.9, max_per_user)
        return cls(val, c.history, train, test, targets, pa.concat_tables([c.history, c.live]))


def recent_popularity(events: pa.Table, targets: Sequence[nextitem.Target], train: Training, last: int) -> np.ndarray:
    """(targets, items): log(1 + engagements of each item among all users' newest ``last`` engagements strictly
    before the target's time), from a stream in time order."""
    engaged = np.isin(events.column("event_type").to_numpy(zero_copy_only=False), list(nextitem.ENGAGEMENT_TYPES))
    items = np.array([train.index.get(i, -1) for i in events.column("item_id").to_pylist()], dtype=np.int64)[engaged]
    times = events.column("event_time_ms").to_numpy()[engaged]
    out = np.zeros((len(targets), train.n_items), dtype=np.float32)
    for r, t in enumerate(targets):
        end = int(np.searchsorted(times, t.time_ms, side="left"))
        window = items[max(0, end - last) : end]
        out[r] = np.log1p(np.bincount(window[window >= 0], minlength=train.n_items))
    return out


def decayed_popularity(
    events: pa.Table, targets: Sequence[nextitem.Target], train: Training, half_life_days: float
) -> np.ndarray:
    """(targets, items): the speed layer's ``popularity_recent`` (a ``DecayedCount``) over each item's engagements
    strictly before the target's time, decayed to it as serving's FOR_YOU prior reads it — the batch's own
    computation (:func:`hybridrec.prior_choice.decayed_popularity`), which a unit test holds to the declaration."""
    engaged = np.isin(events.column("event_type").to_numpy(zero_copy_only=False), list(nextitem.ENGAGEMENT_TYPES))
    items = np.array([train.index.get(i, -1) for i in events.column("item_id").to_pylist()], dtype=np.int64)[engaged]
    times = events.column("event_time_ms").to_numpy()[engaged].astype(np.int64)
    e = prior_choice.Engagements(np.zeros(len(items), np.int64), items, times)
    cases = [prior_choice.Target(t.position, -1, t.time_ms, []) for t in targets]
    return prior_choice.decayed_popularity(e, cases, train.n_items, half_life_days * DAY_MS)


def newest_distinct(history: Sequence[int], n: int) -> list[int]:
    """The ``n`` newest distinct items of a history (oldest first in): the speed layer's ``engaged_items``."""
    return list(dict.fromkeys(reversed(list(history))))[:n]


def served_i2i(train: Training, hists: list[list[int]]) -> Callable[..., np.ndarray]:
    """Co-occurrence lists as the batch layer publishes them (window 100, best 100 per item), scored from the
    ``seeds`` newest distinct engagements with serving's decay 0.7."""
    nb = neighbours.cooccurrence(train.sequences.values(), train.counts, 100, 100)

    def scores(params: dict[str, Any]) -> np.ndarray:
        return np.stack([neighbours.score_all(nb, newest_distinct(h, params["seeds"]), 0.7) for h in hists])

    return scores


def served_ease(train: Training, hists: list[list[int]]) -> Callable[..., np.ndarray]:
    """EASE as the batch layer publishes it (:func:`hybridrec.neighbours.ease`: best ``k`` positive weights per
    item), scored from the newest 200 distinct engagements (the speed layer's ``engaged_items``)."""

    def scores(params: dict[str, Any]) -> np.ndarray:
        nb = neighbours.ease(train.sequences.values(), train.n_items, params["lam"], params["k"], 10_000)
        return np.stack([neighbours.score_all(nb, newest_distinct(h, 200), 1.0) for h in hists])

    return scores


def without_seen(scores: np.ndarray, hists: Sequence[Sequence[int]]) -> np.ndarray:
    """Scores with each row's engaged items set to −inf (never recommended; they must not set the min-max)."""
    s = np.array(scores, dtype=np.float32)
    for r, h in enumerate(hists):
        s[r, list(h)] = -np.inf
    return s


def ndcg_fast(scores: np.ndarray, target_items: np.ndarray) -> float:
    """NDCG@10 of one relevant item per row from a full score matrix (seen items already −inf; ties by item
    position). For choosing among many weightings; the figures printed come from :func:`lists`."""
    st = scores[np.arange(len(target_items)), target_items]
    above = (scores > st[:, None]).sum(1)
    tied = ((scores == st[:, None]) & (np.arange(scores.shape[1])[None, :] < target_items[:, None])).sum(1)
    rank = above + tied
    return float(np.where((rank < 10) & np.isfinite(st), 1.0 / np.log2(rank + 2), 0.0).mean())


def lists(scores: np.ndarray, train: Training, hists: Sequence[Sequence[int]]) -> list[list[str]]:
    """Each row's best ``K`` unseen items by the replay baselines' own top-k (the figures printed)."""

    class Fixed:
        name, offset = "fixed", 0

        def fit(self, train: Training) -> None: ...

        def scores(self, h: Sequence[Sequence[int]]) -> np.ndarray:
            return scores[self.offset : self.offset + len(h)]

    m, out = Fixed(), []
    for start in range(0, len(hists), 512):
        m.offset = start
        out += top_k(m, train, hists[start : start + 512], K, chunk=512)
    return out


@dataclass
class Part:
    name: str
    params: dict[str, Any]
    val: np.ndarray  # min-max scaled, seen excluded
    test: np.ndarray
    test_raw: np.ndarray
    validation: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    seconds: float = 0.0


def choose(
    name: str,
    grid: Sequence[dict[str, Any]],
    val_scores: Callable[[dict[str, Any]], np.ndarray],
    test_scores: Callable[[dict[str, Any]], np.ndarray],
    cell: Cell,
    val_items: np.ndarray,
) -> Part:
    """The part's parameters chosen by validation NDCG@10; then scored on the test targets."""
    t0 = time.perf_counter()
    scored, best, best_val = [], dict(grid[0]), None
    for params in grid:
        v = without_seen(val_scores(params), cell.val.histories)
        score = ndcg_fast(v, val_items)
        scored.append((params, round(score, 5)))
        if best_val is None or score > best_val[0]:
            best, best_val = params, (score, v)
    assert best_val is not None
    raw = without_seen(test_scores(best), cell.test_histories)
    part = Part(name, best, sequence.minmax(best_val[1]), sequence.minmax(raw), raw, scored, time.perf_counter() - t0)
    print(f"  {name}: {best} ({part.seconds:.0f} s)", flush=True)
    return part


def fitted_scores(make: Callable[..., Method], train: Training, hists: list[list[int]]) -> Callable[..., np.ndarray]:
    def scores(params: dict[str, Any]) -> np.ndarray:
        m = make(**params)
        m.fit(train)
        return m.scores(hists)

    return scores


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    m = round(1 / step)
    return [tuple(c / m for c in combo) for combo in itertools.product(range(m + 1), repeat=n) if sum(combo) == m]


def run(
    dataset: str, fraction: float, max_per_user: int, seq_grid: Sequence[dict[str, Any]], step: float, served: bool
) -> dict:
    t0 = time.perf_counter()
    cell = Cell.of(dataset, fraction, max_per_user)
    val_items = np.array([cell.val.train.index[t.item_id] for t in cell.val.targets])
    print(f"{dataset} @ {fraction}: {len(cell.targets):,} targets, validation {len(val_items):,}", flush=True)
    vt, tt = cell.val.train, cell.train
    vh, th = cell.val.histories, cell.test_histories
    if served:
        parts = [
            choose("item-to-item (served)", SERVED_I2I_GRID, served_i2i(vt, vh), served_i2i(tt, th), cell, val_items),
            choose("EASE (served)", SERVED_EASE_GRID, served_ease(vt, vh), served_ease(tt, th), cell, val_items),
            choose(
                "recent popularity (decayed)",
                DECAYED_GRID,
                lambda p: decayed_popularity(cell.val_events, cell.val.targets, vt, **p),
                lambda p: decayed_popularity(cell.test_events, cell.targets, tt, **p),
                cell,
                val_items,
            ),
        ]
    else:
        parts = [
            choose(
                "item-to-item (co-occurrence)",
                GRIDS[CoOccurrence],
                fitted_scores(CoOccurrence, vt, vh),
                fitted_scores(CoOccurrence, tt, th),
                cell,
                val_items,
            ),
            choose("EASE", GRIDS[Ease], fitted_scores(Ease, vt, vh), fitted_scores(Ease, tt, th), cell, val_items),
            choose(
                "recent popularity",
                RECENT_GRID,
                lambda p: recent_popularity(cell.val_events, cell.val.targets, vt, **p),
                lambda p: recent_popularity(cell.test_events, cell.targets, tt, **p),
                cell,
                val_items,
            ),
        ]
    if seq_grid:
        parts.append(
            choose(
                "sequence model",
                seq_grid,
                fitted_scores(NextItem, vt, vh),
                fitted_scores(NextItem, tt, th),
                cell,
                val_items,
            )
        )
    seen = np.where(without_seen(np.zeros((len(vh), vt.n_items), np.float32), vh) < 0, -np.inf, 0.0)
    weighted = sorted(
        (
            (ndcg_fast(seen + sum(w * p.val for w, p in zip(ws, parts, strict=True)), val_items), ws)
            for ws in simplex(len(parts), step)
        ),
        reverse=True,
    )
    best_val, weights = weighted[0]
    fused = sum(w * p.test for w, p in zip(weights, parts, strict=True))
    out: dict[str, Any] = {"dataset": dataset, "fraction": fraction, "targets": len(cell.targets), "methods": {}}
    for p in parts:
        out["methods"][p.name] = {
            **headline(lists(p.test_raw, tt, th), cell.targets),
            "params": p.params,
            "validation_ndcg@10": p.validation,
        }
    out["methods"]["ensemble"] = {
        **headline(lists(fused, tt, th), cell.targets),
        "params": dict(zip((p.name for p in parts), weights, strict=True)),
        "validation_ndcg@10": round(best_val, 5),
        "runners_up": [[ws, round(v, 5)] for v, ws in weighted[1:4]],
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> int:
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--seq", type=json.loads, default=[], help="JSON list of sequence-model parameter dicts")
    ap.add_argument("--step", type=float, default=0.1, help="grid step of the parts' weights")
    ap.add_argument(
        "--served",
        action="store_true",
        help="the parts as served: published top-k lists (co-occurrence, EASE) and the decayed recent popularity",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for dataset in args.dataset:
        for fraction in args.fraction:
            r = run(dataset, fraction, args.max_targets_per_user, args.seq, args.step, args.served)
            runs.append(r)
            print_run(r, max(m["ndcg@10"] for n, m in r["methods"].items() if n != "ensemble"), "× best part")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
