"""Where the served FOR_YOU row loses to the same prior offline (issue #15, session 10), target by target.

Reads one replay's work dir (the version its batch published: item ids, co-occurrence and EASE lists,
``popularity.json``) and the replay's ``--dump-targets`` file, and scores the same targets three ways:

- **offline**: the served ensemble as :mod:`benchmarks.i2i_quality` fits it ("served ensemble, symmetric part,
  shipped weights": lists fit on the history, seen items out of the min-max);
- **as served**: the version's published lists scored as :mod:`serving.logic.prior` does at the target's time
  (co-occurrence from the newest 10 distinct engagements, EASE from the newest 200 — the speed layer's
  ``engaged_items`` — min-max over the items not among those 200, the recent popularity decayed to the target's
  time), the seen filter over every engagement; and the same with every engagement in the min-max's exclusion;
- **served**: the row the ranker answered (the dump).

Then splits the targets by what the served row was: cold start (the ranker answered FOR_YOU with its fallback
"Popular right now"), the as-served prior's top 20 exactly, the same items in another order, other items; and
prints each part's share of NDCG@10 in all three, and what the cold-start targets score with the batch's
``popularity.json`` and with the recent popularity. Offline, no timing read:

    .venv/bin/python benchmarks/served_gap.py --dataset ml-100k --fraction 0.8 \
        --workdir .run/eval/q10-100k-08-noexp --dump .run/q10/100k-08-noexp.jsonl [--json out.json]

Figures: docs/benchmarks.md, *session 10*.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks import ensemble_quality as eq
from benchmarks import i2i_quality as iq
from hybridrec import neighbours, nextitem, prior_choice, sequence
from hybridrec.neighbours import Neighbours
from serving.trending import popular_order

DAY_MS = 86_400_000
ENGAGED_KEPT = 200  # the speed layer's engaged_items (hybridrec.fresh_features)


def ndcg(ranks: np.ndarray) -> np.ndarray:
    """Per target: 1/log2(rank + 2) for a 0-based rank under 10, else 0 (rank −1: not in the row)."""
    r = np.asarray(ranks)
    return np.where((r >= 0) & (r < 10), 1.0 / np.log2(np.maximum(r, 0) + 2), 0.0)


def ranks(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """0-based rank of ``items[r]`` among the finite entries of ``scores[r]`` (ties: lower position first); −1
    when its score is not finite or the item is −1."""
    out = np.full(len(items), -1, np.int64)
    cols = np.arange(scores.shape[1])
    for r, i in enumerate(items.tolist()):
        if i < 0 or not np.isfinite(scores[r, i]):
            continue
        s, ok = scores[r], np.isfinite(scores[r])
        out[r] = int(((s > s[i]) & ok).sum() + ((s == s[i]) & ok & (cols < i)).sum())
    return out


def run(dataset: str, fraction: float, max_per_user: int, workdir: Path, dump: Path) -> dict[str, Any]:
    cell = eq.Cell.of(dataset, fraction, max_per_user)
    tt, th, targets = cell.train, cell.test_histories, cell.targets
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    if [(r["user_id"], r["item_id"], r["time_ms"]) for r in records] != [
        (t.user_id, t.item_id, t.time_ms) for t in targets
    ]:
        raise SystemExit(f"{dump} holds other targets than {dataset} @ {fraction}")
    # offline: benchmarks/i2i_quality.py's served ensemble with the symmetric part at the shipped weights
    w = iq.SHIPPED
    offline = eq.without_seen(
        w[0] * iq.scaled(iq.i2i(tt, th, iq.SYMMETRIC), th)
        + w[1] * iq.scaled(eq.served_ease(tt, th)(iq.EASE), th)
        + w[2] * iq.scaled(eq.decayed_popularity(cell.test_events, targets, tt, **iq.HALF_LIFE), th),
        th,
    )
    r_offline = ranks(offline, np.array([tt.index[t.item_id] for t in targets]))
    # as served: the version's own lists and item positions
    (vdir,) = (workdir / "data" / "registry" / "versions").iterdir()
    item_ids: list[str] = json.loads((vdir / "item_ids.json").read_text())
    pos = {i: k for k, i in enumerate(item_ids)}
    co, ez = (Neighbours.load(vdir / f) for f in ("item_neighbours.npz", "ease_neighbours.npz"))
    timeline = nextitem.Timeline([cell.test_events])
    engaged = [
        [pos[i] for i in dict.fromkeys(reversed(timeline.engaged_before(t.user_id, t.time_ms))) if i in pos]
        for t in targets
    ]
    ev = cell.test_events
    kept = np.isin(ev.column("event_type").to_numpy(zero_copy_only=False), list(nextitem.ENGAGEMENT_TYPES))
    e = prior_choice.Engagements(
        np.zeros(int(kept.sum()), np.int64),
        np.array([pos.get(i, -1) for i in ev.column("item_id").to_pylist()], np.int64)[kept],
        ev.column("event_time_ms").to_numpy()[kept].astype(np.int64),
    )
    cases = [prior_choice.Target(0, -1, t.time_ms, []) for t in targets]
    recent = prior_choice.decayed_popularity(e, cases, len(item_ids), iq.HALF_LIFE["half_life_days"] * DAY_MS)
    target_pos = np.array([pos.get(t.item_id, -1) for t in targets])

    def as_served(exclude_every: bool) -> np.ndarray:
        out = np.zeros((len(targets), len(item_ids)))
        for r, mine in enumerate(engaged):
            kept_now = mine[:ENGAGED_KEPT]
            parts = [
                neighbours.score_all(co, kept_now[: iq.SEEDS], iq.DECAY),
                neighbours.score_all(ez, kept_now, 1.0),
                recent[r],
            ]
            out[r] = sequence.blend_many(parts, w, mine if exclude_every else kept_now)
            out[r, mine] = -np.inf  # the seen filter: every engagement
        return out

    served_scores = as_served(False)
    r_served_prior = ranks(served_scores, target_pos)
    r_every = ranks(as_served(True), target_pos)
    r_row = np.array([r["hybrid"]["rank"] for r in records])
    top20 = np.argsort(-served_scores, axis=1, kind="stable")[:, :20]
    cold = np.array(["row:for_you_unavailable" in r["hybrid"]["degraded"] for r in records])
    same = np.array([r["hybrid"]["items"] == [item_ids[p] for p in top20[n]] for n, r in enumerate(records)])
    same_set = np.array([set(r["hybrid"]["items"]) == {item_ids[p] for p in top20[n]} for n, r in enumerate(records)])
    n = len(targets)
    groups = {
        "all": np.ones(n, bool),
        "cold start (fallback row)": cold,
        "row = the prior's top 20": ~cold & same,
        "same 20, other order": ~cold & ~same & same_set,
        "other items": ~cold & ~same_set,
    }
    columns = {
        "offline": r_offline,
        "as served, all seen out": r_every,
        "as served": r_served_prior,
        "served row": r_row,
    }
    out: dict[str, Any] = {"dataset": dataset, "fraction": fraction, "targets": n, "version": vdir.name, "groups": {}}
    for g, m in groups.items():
        out["groups"][g] = {
            "targets": int(m.sum()),
            **{c: round(float(ndcg(r[m]).sum() / n), 5) for c, r in columns.items()},
        }
    # the cold-start targets' rows by popularity: the batch's window counts vs the recent popularity
    popular = [r["item_id"] for r in json.loads((vdir / "popularity.json").read_text())]
    by_list: dict[str, list[float]] = {"popularity.json": [], "recent popularity": []}
    for k in np.flatnonzero(cold).tolist():
        order = [item_ids[p] for p in popular_order(recent[k]).tolist()]  # as serving orders the row
        seen = set(timeline.engaged_before(targets[k].user_id, targets[k].time_ms))
        for name, ranked in (("popularity.json", popular), ("recent popularity", order)):
            row = [i for i in ranked if i not in seen][:20]
            by_list[name].append(
                float(ndcg(np.array([row.index(targets[k].item_id) if targets[k].item_id in row else -1]))[0])
            )
    out["cold_start_ndcg@10"] = {k: round(float(np.mean(v)), 4) if v else None for k, v in by_list.items()}
    out["cold_start_ndcg@10"]["served row"] = round(float(ndcg(r_row[cold]).mean()), 4) if cold.any() else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--fraction", type=float, required=True)
    ap.add_argument("--max-targets-per-user", type=int, default=50)
    ap.add_argument("--workdir", type=Path, required=True, help="the replay's --workdir")
    ap.add_argument("--dump", type=Path, required=True, help="the replay's --dump-targets file")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    out = run(args.dataset, args.fraction, args.max_targets_per_user, args.workdir, args.dump)
    print(f"{out['dataset']} @ {out['fraction']}: {out['targets']:,} targets, version {out['version']}")
    print(
        f"  {'NDCG@10 share of':<32}{'targets':>8}"
        + "".join(f"{c[:28]:>30}" for c in next(iter(out["groups"].values())) if c != "targets")
    )
    for g, row in out["groups"].items():
        print(f"  {g:<32}{row['targets']:>8,}" + "".join(f"{v:>30.4f}" for c, v in row.items() if c != "targets"))
    print(f"  cold-start targets, NDCG@10 of their rows: {out['cold_start_ndcg@10']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
