"""Offline: what FOR_YOU's exploration and genre re-rank cost by slot, and a learned fusion over the served prior's
candidates (issue #15, session 11), on exactly the replay's cut and test targets.

The served prior (:mod:`serving.logic.prior`) is a linear min-max blend of three parts — co-occurrence lists from the
newest 10 engagements, EASE lists from the newest 200, the recent popularity decayed at 30 days — at the shipped
weights 0.5 / 0.3 / 0.2 (``benchmarks/i2i_quality.py``'s "served ensemble, symmetric part, shipped weights").

``--exploration``: the prior's top 20 as the ranked row and its top ``--candidates`` as the exploration pool (a
stand-in for serving's candidate set: prior top 60 ∪ FAISS ∪ batch top-K), scored under
:func:`serving.logic.exploration.explore` itself (seeded, ``--draws`` draws per target: expected NDCG@10 / HR@10 /
Recall@20) at the shipped rate and with the same expected number of explored slots (rate × 20) placed only from slot
k on; each with and without the genre re-rank (:func:`hybridrec.diversity.rerank_rows` over the top 60, weight
0.3, 8 greedy slots), which runs before exploration as in ``serving/logic/assembly.py``.

Fusion (default on): per target the prior's top ``--candidates`` unengaged items, each with features serving could
compute at request time (each part's raw score, per-user min-max and rank; the recent popularity at 7, 30 and 365
days; the co-occurrence score of the newest engagement alone; all-time popularity; hours since anyone last engaged
with the item and since its first engagement; the user's history length and hours since their previous event; genre
overlap with the user's newest 10), scored by a linear model or a small MLP trained listwise (softmax cross-entropy
over each target's candidates) on targets of cuts INSIDE the history only (``--train-cuts``, each as
:class:`evaluation.offline.Validation` builds it: parts fit on the cut's history, targets after it), early-stopped on
a fifth of those targets' users; then the test targets re-ranked and compared with the prior's order.

    .venv/bin/python -u benchmarks/fusion_quality.py --dataset ml-100k --fraction 0.8 [--exploration] \
        [--no-fusion] [--train-cuts 0.9 0.8] [--json out.json]

``--frontier`` (session 13): the fused order (the mean of ``--fusion-seeds``' scores, as the served merged net scores)
re-ranked for genre entropy over its best 60 with each order score — the rank score serving gave FOR_YOU
(``rank``: 1/(61 + rank)), the fused score, its softmax (``softmax T t``: at temperature t) — at each weight and
number of greedy slots (``--frontier-orders / --frontier-weights / --frontier-slots``), and of first slots kept in
the fused order (``--frontier-heads``, session 14): NDCG@10 and genre entropy@20 beside the popularity row's (the
7-day recent popularity's best 20 unengaged items).

Figures and what they showed: docs/benchmarks.md, *session 11*.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


import numpy as np
import pyarrow as pa

from benchmarks import ensemble_quality as eq
from benchmarks.i2i_quality import EASE, SHIPPED, SYMMETRIC
from benchmarks.sequence_quality import arguments, headline, run_cells
from evaluation.baselines import CoOccurrence, Training
from evaluation.offline import Validation
from hybridrec import contract, diversity, fusion, neighbours, nextitem
from hybridrec.datasets import load_dataset
from serving.logic import exploration

HALF_LIVES = (7, 30, 365)  # days: the recent popularity counts the speed layer keeps
HOUR_MS = 3_600_000
ROW, POOL, RATE, DIVERSITY, DIVERSITY_SLOTS = 20, 60, 0.07, 0.3, 8  # serving's row, rerank pool and policy


@dataclass
class Lists:
    """Each target's candidates (prior order), their features and where the target is among them (−1: not)."""

    cand: np.ndarray  # (n, C) item positions
    prior: np.ndarray  # (n, C) the prior's score
    x: np.ndarray  # (n, C, F) float32
    target: np.ndarray  # (n,)
    users: list[str]


def genre_matrix(dataset: str, train: Training) -> np.ndarray:
    """Genre vectors (the fixed axis of :mod:`hybridrec.contract`) by training position."""
    genres = {i.item_id: i.genres for i in load_dataset(dataset).items()}
    return np.array([contract.genre_vector(list(genres.get(i, ()))) for i in train.items], np.float32)


def item_times(events: pa.Table, targets: Sequence[nextitem.Target], train: Training) -> tuple[np.ndarray, ...]:
    """(targets, items) hours since each item's last and first engagement by anyone strictly before the target's
    time (log1p; items never engaged yet: the largest value seen). Targets in time order."""
    engaged = np.isin(events.column("event_type").to_numpy(zero_copy_only=False), list(nextitem.ENGAGEMENT_TYPES))
    items = np.array([train.index.get(i, -1) for i in events.column("item_id").to_pylist()], np.int64)[engaged]
    times = events.column("event_time_ms").to_numpy()[engaged].astype(np.int64)
    last = np.full(train.n_items, -1, np.int64)
    first = np.full(train.n_items, -1, np.int64)
    since_last = np.zeros((len(targets), train.n_items), np.float32)
    since_first = np.zeros_like(since_last)
    k = 0
    for r, t in enumerate(targets):
        end = int(np.searchsorted(times, t.time_ms, side="left"))
        if end > k:
            it, tm = items[k:end], times[k:end]
            keep = it >= 0
            last[it[keep]] = tm[keep]  # in time order: the newest write wins
            fresh = keep & (first[np.maximum(it, 0)] < 0)
            first[it[fresh][::-1]] = tm[fresh][::-1]  # the oldest write wins
            k = end
        for out, at in ((since_last, last), (since_first, first)):
            h = np.log1p(np.maximum(t.time_ms - at, 0) / HOUR_MS)
            out[r] = np.where(at >= 0, h, np.nan)
    for out in (since_last, since_first):
        out[np.isnan(out)] = np.nanmax(out) if np.isfinite(out).any() else 0.0
    return since_last, since_first


def build(
    dataset: str,
    train: Training,
    hists: list[list[int]],
    events: pa.Table,
    targets: Sequence[nextitem.Target],
    n_cand: int,
    local_ranks: bool = False,
    chunk: int = 1000,
) -> Lists:
    """Every target's candidates and features, from parts fit on ``train`` (a cut's history) and scored as served."""
    nb = neighbours.cooccurrence(train.sequences.values(), train.counts, SYMMETRIC["window"], 100)
    ez = neighbours.ease(train.sequences.values(), train.n_items, EASE["lam"], EASE["k"], 10_000)
    pops = [eq.decayed_popularity(events, targets, train, half_life_days=d) for d in HALF_LIVES]
    since_last, since_first = item_times(events, targets, train)
    genres = genre_matrix(dataset, train)
    alltime = np.log1p(train.counts).astype(np.float32)
    item = np.array([train.index[t.item_id] for t in targets])
    cands, priors, xs, where = [], [], [], []
    for lo in range(0, len(targets), chunk):
        hs, rows = hists[lo : lo + chunk], slice(lo, lo + chunk)
        raw = [
            np.stack([neighbours.score_all(nb, eq.newest_distinct(h, 10), 0.7) for h in hs]),
            np.stack([neighbours.score_all(ez, eq.newest_distinct(h, 200), 1.0) for h in hs]),
            *(p[rows] for p in pops),
        ]
        newest = np.stack([neighbours.score_all(nb, eq.newest_distinct(h, 1), 1.0) for h in hs])
        taste = np.stack([genres[eq.newest_distinct(h, 10)].sum(0) if h else np.zeros(genres.shape[1]) for h in hs])
        user = np.array(
            [
                [
                    math.log1p(len(h)),
                    math.log1p((t.time_ms - t.after_ms) / HOUR_MS) if t.after_ms >= 0 else 0.0,
                    float(not h),
                ]
                for h, t in zip(hs, targets[rows], strict=True)
            ],
            np.float32,
        )
        c = fusion.features(
            [eq.without_seen(r, hs) for r in raw],
            (*SHIPPED[:2], 0.0, SHIPPED[2], 0.0),  # the served prior: 30-day recent popularity
            eq.without_seen(newest, hs),
            alltime,
            lambda cand, rows=rows: (  # type: ignore[misc]
                np.take_along_axis(since_last[rows], cand, axis=1),
                np.take_along_axis(since_first[rows], cand, axis=1),
            ),
            user,
            genres,
            taste,
            n_cand,
            local_ranks=local_ranks,
        )
        cand = c.items
        xs.append(c.x)
        cands.append(cand)
        priors.append(c.prior)
        hit = cand == item[rows, None]
        where.append(np.where(hit.any(1), hit.argmax(1), -1))
    return Lists(
        np.concatenate(cands),
        np.concatenate(priors),
        np.concatenate(xs),
        np.concatenate(where),
        [t.user_id for t in targets],
    )


def metrics_of(rank: np.ndarray) -> dict[str, float]:
    """NDCG@10 / HR@10 / Recall@20 of one relevant item per target from its 0-based rank (−1: not in the row)."""
    r = np.where(rank < 0, 10**6, rank).astype(np.float64)
    return {
        "ndcg@10": round(fusion.ndcg_at_10(rank), 4),
        "hr@10": round(float((r < 10).mean()), 4),
        "recall@20": round(float((r < 20).mean()), 4),
    }


# --- A: exploration and the genre re-rank -------------------------------------------------------------------


def exploration_costs(lists: Lists, genres: np.ndarray, draws: int, seed: int) -> dict[str, dict[str, float]]:
    """Expected metrics of the row under each exploration policy, with and without the re-rank."""
    n = len(lists.target)
    inside = np.flatnonzero(lists.target >= 0)
    pool = list(range(lists.cand.shape[1]))
    reranked = {}
    for r in inside.tolist():
        top = 1.0 / (61.0 + np.arange(POOL))  # serving's order score: rank_fusion at i2i_weight 1, k 60
        picks = diversity.rerank_rows([top], [genres[lists.cand[r, :POOL]]], ROW, DIVERSITY, slots=DIVERSITY_SLOTS)
        reranked[r] = picks[0]
    policies: list[tuple[str, int, float]] = [("no exploration", 0, 0.0), ("shipped: every slot at 0.07", 0, RATE)]
    policies += [
        (f"from slot {k} at {RATE * ROW / (ROW - k + 1):.4f}", k - 1, RATE * ROW / (ROW - k + 1)) for k in (4, 6, 11)
    ]
    out: dict[str, dict[str, float]] = {}
    for rerank in (False, True):
        for name, start, rate in policies:
            rng = random.Random(seed)
            acc = {"ndcg@10": 0.0, "hr@10": 0.0, "recall@20": 0.0, "explored": 0.0}
            reps = draws if rate > 0 else 1
            for r in inside.tolist():
                order = reranked[r] if rerank else list(range(ROW))
                t = int(lists.target[r])
                for _ in range(reps):
                    head = order[:start]
                    rest = [p for p in pool if p not in head] if start else pool
                    tail = exploration.explore(order[start:], rest, rate, rng)
                    row = head + list(tail.index)
                    acc["explored"] += sum(tail.explored)
                    if t in row:
                        k = row.index(t)
                        acc["ndcg@10"] += 1.0 / math.log2(k + 2) if k < 10 else 0.0
                        acc["hr@10"] += k < 10
                        acc["recall@20"] += k < 20
            label = f"{name}{', genre re-rank' if rerank else ''}"
            out[label] = {k: round(v / (n * reps), 4 if k != "explored" else 3) for k, v in acc.items()}
            out[label]["explored"] = round(acc["explored"] / (len(inside) * reps), 3)
            print(f"  {label:<48} {out[label]}", flush=True)
    return out


# --- C: the genre re-rank over the fused order --------------------------------------------------------------


def diversity_frontier(
    fused: Lists, genres: np.ndarray, popular: np.ndarray, grid: dict[str, Sequence[Any]]
) -> dict[str, Any]:
    """NDCG@10 and genre entropy@20 of the fused row re-ranked over its top ``POOL`` with each order score (the
    rank score serving uses, the fused score itself, its softmax over the candidates), weight and number of
    greedy slots; beside the entropy of ``popular`` (each target's popularity row, positions)."""
    n = len(fused.target)
    top = fused.cand[:, :POOL]
    g = [genres[t] for t in top]
    orders = {
        "rank": np.broadcast_to(1.0 / (61.0 + np.arange(POOL)), top.shape),
        "score": fused.prior[:, :POOL],
        "softmax": fusion.confidence(fused.prior, 1.0)[:, :POOL],
        "softmax T 0.5": fusion.confidence(fused.prior, 0.5)[:, :POOL],
        "softmax T 0.33": fusion.confidence(fused.prior, 0.33)[:, :POOL],
    }
    out: dict[str, Any] = {"popularity entropy@20": round(float(diversity.entropy_bits(popular, genres).mean()), 4)}
    base = fused.cand[:, :ROW]
    out["no re-rank"] = {
        **metrics_of(np.where(fused.target < ROW, fused.target, -1)),
        "entropy@20": round(float(diversity.entropy_bits(base, genres).mean()), 4),
    }
    print(f"  popularity entropy {out['popularity entropy@20']}; no re-rank {out['no re-rank']}", flush=True)
    want = diversity.entropy_bits(popular, genres)
    for name in grid["orders"]:
        order = orders[name]
        for slots, head in ((s, h) for s in grid["slots"] for h in grid.get("heads", [0]) if h < s):
            if grid.get("guardrail"):
                label = f"{name} per-row guardrail slots {slots}" + (f" head {head}" if head else "")
                out[label] = guardrail(order, g, top, fused.target, genres, want, grid["guardrail"], slots, head)
                print(f"  {label:<28} {out[label]}", flush=True)
        for weight in grid["weights"]:
            for slots, head in ((s, h) for s in grid["slots"] for h in grid.get("heads", [0]) if h < s):
                picks = diversity.rerank_rows(list(order), g, ROW, weight, slots=slots, head=head)
                rows = np.full((n, ROW), -1, np.int64)
                rank = np.full(n, -1)
                for r, p in enumerate(picks):
                    rows[r, : len(p)] = top[r, p]
                    t = fused.target[r]
                    if 0 <= t < POOL and t in p:
                        rank[r] = p.index(t)
                label = f"{name} w {weight} slots {slots}" + (f" head {head}" if head else "")
                out[label] = {
                    **metrics_of(rank),
                    "entropy@20": round(float(diversity.entropy_bits(rows, genres).mean()), 4),
                }
                print(f"  {label:<28} {out[label]}", flush=True)
    return out


def guardrail(
    order: np.ndarray,
    g: list[np.ndarray],
    top: np.ndarray,
    target: np.ndarray,
    genres: np.ndarray,
    want: np.ndarray,
    ladder: Sequence[float],
    slots: int,
    head: int,
) -> dict[str, Any]:
    """Each row re-ranked at the least weight of ``ladder`` whose row reaches its own popular row's entropy
    (``want``, per target; the largest weight where none does): the guardrail kept per page, not on average."""
    n = len(target)
    done = np.zeros(n, bool)
    rows = np.full((n, ROW), -1, np.int64)
    rank = np.full(n, -1)
    used = np.zeros(n)
    for k, weight in enumerate(sorted(ladder)):
        todo = np.flatnonzero(~done)
        picks = diversity.rerank_rows(
            [order[r] for r in todo], [g[r] for r in todo], ROW, weight, slots=slots, head=head
        )
        tried = np.full((len(todo), ROW), -1, np.int64)
        for j, (r, p) in enumerate(zip(todo.tolist(), picks, strict=True)):
            tried[j, : len(p)] = top[r, p]
        ent = diversity.entropy_bits(tried, genres)  # every row of this weight at once
        for j, (r, p) in enumerate(zip(todo.tolist(), picks, strict=True)):
            if ent[j] >= want[r] or k == len(ladder) - 1:
                done[r], rows[r], used[r] = True, tried[j], weight
                t = target[r]
                rank[r] = p.index(t) if 0 <= t < POOL and t in p else -1
    got = diversity.entropy_bits(rows, genres)
    return {
        **metrics_of(rank),
        "entropy@20": round(float(got.mean()), 4),
        "mean weight": round(float(used.mean()), 3),
        "rows at weight 0": round(float((used == 0).mean()), 3),
        "rows short": round(float((got < want - 1e-9).mean()), 3),
    }


# --- B: the learned fusion ---------------------------------------------------------------------------------


def reordered(lists: Lists, scores: np.ndarray) -> Lists:
    """The candidates in ``scores``' order (ties: the prior's), the target's index moved with them."""
    order = np.argsort(-scores, axis=1, kind="stable")
    inverse = np.argsort(order, axis=1)
    target = np.where(lists.target >= 0, inverse[np.arange(len(order)), np.maximum(lists.target, 0)], -1)
    pick = lambda m: np.take_along_axis(m, order, axis=1)  # noqa: E731
    return Lists(pick(lists.cand), pick(scores), lists.x, target, lists.users)


def segments(lists: Lists, scores: np.ndarray, cell: eq.Cell) -> dict[str, Any]:
    """NDCG@10 of the prior and of ``scores`` by kind of target: returning users (in the batch history), new users
    with earlier engagements, and a user's first engagement of all; each as its mean and its share of the total."""
    empty = np.array([not h for h in cell.test_histories])
    returning = np.array([t.returning for t in cell.targets])
    kinds = {"returning": returning, "new, with history": ~returning & ~empty, "first engagement": empty}
    out: dict[str, Any] = {}
    for name, mask in kinds.items():
        p = fusion.target_ranks(lists.prior[mask], lists.target[mask])
        f = fusion.target_ranks(scores[mask], lists.target[mask])
        share = mask.mean()
        out[name] = {
            "targets": int(mask.sum()),
            "prior": round(fusion.ndcg_at_10(p), 4),
            "fused": round(fusion.ndcg_at_10(f), 4),
            "share of the gain": round(share * (fusion.ndcg_at_10(f) - fusion.ndcg_at_10(p)), 4),
        }
    return out


def concat(parts: list[Lists]) -> Lists:
    return Lists(
        np.concatenate([p.cand for p in parts]),
        np.concatenate([p.prior for p in parts]),
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.target for p in parts]),
        [u for p in parts for u in p.users],  # a user's lists of every cut on one side of the early-stopping split
    )


def run(dataset: str, fraction: float, args: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    cell = eq.Cell.of(dataset, fraction, args.max_targets_per_user)
    print(f"{dataset} @ {fraction}: {len(cell.targets):,} targets", flush=True)
    test = build(
        dataset, cell.train, cell.test_histories, cell.test_events, cell.targets, args.candidates, args.local_ranks
    )
    out: dict[str, Any] = {"dataset": dataset, "fraction": fraction, "targets": len(cell.targets)}
    out["prior (served blend)"] = metrics_of(fusion.target_ranks(test.prior, test.target))
    out["target among candidates"] = round(float((test.target >= 0).mean()), 4)
    print(f"  prior {out['prior (served blend)']}, target among {args.candidates}: {out['target among candidates']}")
    if args.baseline:
        vt, vh = cell.val.train, cell.val.histories
        vi = np.array([vt.index[t.item_id] for t in cell.val.targets])
        base = eq.choose(
            "item-to-item baseline",
            eq.GRIDS[CoOccurrence],
            eq.fitted_scores(CoOccurrence, vt, vh),
            eq.fitted_scores(CoOccurrence, cell.train, cell.test_histories),
            cell,
            vi,
        )
        m = headline(eq.lists(base.test_raw, cell.train, cell.test_histories), cell.targets)
        out["item-to-item baseline"] = {**m, "params": base.params}
        print(f"  item-to-item baseline {m} {base.params}", flush=True)
    if args.exploration:
        out["exploration"] = exploration_costs(test, genre_matrix(dataset, cell.train), args.draws, args.seed)
    if args.fusion:
        history = cell.val_events
        train_lists = []
        for f in args.train_cuts:
            val = Validation.inside(history, f, args.max_targets_per_user)
            train_lists.append(
                build(dataset, val.train, val.histories, history, val.targets, args.candidates, args.local_ranks)
            )
            print(
                f"  training cut {f}: {len(val.targets):,} targets, {(train_lists[-1].target >= 0).mean():.3f} inside",
                flush=True,
            )
        lists = concat(train_lists)
        if args.drop:  # ablation: the features whose names start with any of these left out
            keep = [k for k, n in enumerate(fusion.FEATURES) if not n.startswith(tuple(args.drop))]
            out["features"] = [fusion.FEATURES[k] for k in keep]
            lists.x, test.x = lists.x[:, :, keep], test.x[:, :, keep]
        out["fusion"] = {}
        prior_ndcg = out["prior (served blend)"]["ndcg@10"]
        for hidden in args.hidden:
            runs, total = {}, np.zeros(test.prior.shape)
            for seed in args.fusion_seeds:
                got = fusion.fit(
                    lists.x,
                    lists.target,
                    lists.users,
                    hidden=hidden,
                    epochs=args.epochs,
                    lr=args.lr,
                    weight_decay=args.wd,
                    seed=seed,
                )
                s = got.fusion.score(test.x)
                total += s
                m = metrics_of(fusion.target_ranks(s, test.target))
                info = {
                    "best_epoch": got.best_epoch,
                    "dev_ndcg@10": round(got.dev_ndcg, 4),
                    "dev_prior_ndcg@10": round(got.dev_prior_ndcg, 4),
                }
                runs[seed] = {**m, "vs prior": round(m["ndcg@10"] / prior_ndcg - 1, 4), **info}
                print(f"  fusion hidden {hidden} seed {seed}: {runs[seed]}", flush=True)
                if hidden == 0:
                    names = out.get("features", fusion.FEATURES)
                    w = got.fusion.layers[0][0][0]  # on standardised features: comparable
                    runs[seed]["weights"] = {n: round(float(v), 3) for n, v in zip(names, w, strict=True)}
            m = metrics_of(fusion.target_ranks(total, test.target))
            out["fusion"][f"hidden {hidden}"] = {**m, "vs prior": round(m["ndcg@10"] / prior_ndcg - 1, 4), "runs": runs}
            out["fusion"][f"hidden {hidden}"]["segments"] = segments(test, total, cell)
            print(f"  segments (prior → fused): {out['fusion'][f'hidden {hidden}']['segments']}", flush=True)
            if args.frontier:
                genres = genre_matrix(dataset, cell.train)
                pops = eq.decayed_popularity(cell.test_events, cell.targets, cell.train, half_life_days=7)
                for r, h in enumerate(cell.test_histories):
                    pops[r, h] = -np.inf
                popular = np.argsort(-pops, axis=1, kind="stable")[:, :ROW]
                out["fusion"][f"hidden {hidden}"]["frontier"] = diversity_frontier(
                    reordered(test, total / len(runs)),  # the mean: what the served merged net scores
                    genres,
                    popular,
                    {
                        "orders": args.frontier_orders,
                        "weights": args.frontier_weights,
                        "slots": args.frontier_slots,
                        "heads": args.frontier_heads,
                        "guardrail": args.frontier_guardrail,
                    },
                )
            if args.exploration:  # the costs again, on the fused order
                out["fusion"][f"hidden {hidden}"]["exploration"] = exploration_costs(
                    reordered(test, total), genre_matrix(dataset, cell.train), args.draws, args.seed
                )
            print(
                f"  fusion hidden {hidden}, mean of {len(runs)} seeds' scores: {m} "
                f"({m['ndcg@10'] / prior_ndcg - 1:+.1%} vs prior)",
                flush=True,
            )
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> int:
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=100, help="prior's top N per target")
    ap.add_argument("--exploration", action="store_true", help="A: exploration / re-rank costs by slot")
    ap.add_argument("--frontier", action="store_true", help="C: the genre re-rank over the fused order")
    ap.add_argument("--frontier-orders", nargs="+", default=["rank", "score", "softmax"])
    ap.add_argument("--frontier-weights", nargs="+", type=float, default=[0.3, 0.5, 0.7, 0.85])
    ap.add_argument("--frontier-slots", nargs="+", type=int, default=[8, 20])
    ap.add_argument("--frontier-heads", nargs="+", type=int, default=[0], help="first greedy slots kept in score order")
    ap.add_argument(
        "--frontier-guardrail", nargs="*", type=float, default=[], help="weight ladder of a per-row entropy guardrail"
    )
    ap.add_argument("--draws", type=int, default=200, help="exploration draws per target")
    ap.add_argument("--no-fusion", dest="fusion", action="store_false")
    ap.add_argument("--baseline", action="store_true", help="also the item-to-item baseline (validation-chosen)")
    ap.add_argument("--train-cuts", type=float, nargs="+", default=[0.9], help="cuts inside the history")
    ap.add_argument("--hidden", type=int, nargs="+", default=[0, 32])
    ap.add_argument(
        "--local-ranks", action="store_true", help="each part's rank among the candidates, not among all items"
    )
    ap.add_argument("--drop", nargs="*", default=[], help="leave out features whose names start with these")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0, help="exploration draws' seed")
    ap.add_argument("--fusion-seeds", type=int, nargs="+", default=[0], help="one model per seed; scores averaged")
    ap.set_defaults(fraction=[0.8])
    return run_cells(ap.parse_args(), run)


if __name__ == "__main__":
    raise SystemExit(main())
