"""CPU of serving's item-to-item stage per page, on a real published version: the neighbours of a user's newest
engagements (``serving.logic.candidates.item_to_item``) and the rank fusion of FOR_YOU's order
(``rank_fusion``), sequentially in this process.

    .venv/bin/python benchmarks/serving_i2i.py --registry DIR [--pages 2000] [--seeds 10] [--candidates 200]

``DIR`` is a registry root (e.g. a replay's ``.run/eval/<run>/data/registry``); its current version must carry
``item_neighbours.npz``. Seeds are drawn from the version's items weighted by popularity (what users engage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridrec.registry import ModelRegistry  # noqa: E402
from serving.config import ServingConfig  # noqa: E402
from serving.features.base import UserFeatures  # noqa: E402
from serving.logic.candidates import item_to_item, rank_fusion  # noqa: E402
from serving.model.bundle import load_version  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", type=Path, required=True)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=ServingConfig().i2i_seeds)
    ap.add_argument("--candidates", type=int, default=200, help="FOR_YOU candidates ranked by the fusion")
    args = ap.parse_args()
    version = ModelRegistry(args.registry).current()
    if version is None:
        print(f"error: no current version under {args.registry}", file=sys.stderr)
        return 2
    model = load_version(version)
    if model.neighbours is None:
        print(f"error: {version.version} was published without item neighbours", file=sys.stderr)
        return 2
    cfg = ServingConfig()
    rng = np.random.default_rng(7)
    weight = np.asarray([1.0 / (1 + r) for r in range(len(model.item_ids))])
    users = [
        UserFeatures(
            engaged_items=tuple(
                model.item_ids[p] for p in rng.choice(len(weight), args.seeds, False, weight / weight.sum())
            )
        )
        for _ in range(args.pages)
    ]
    scores = rng.random((args.pages, args.candidates))
    priors = np.where(rng.random((args.pages, args.candidates)) < 0.3, rng.random((args.pages, args.candidates)), 0)
    took: dict[str, list[float]] = {"item_to_item": [], "rank_fusion": []}
    for k, user in enumerate(users):
        t0 = time.process_time_ns()
        item_to_item(model, user, frozenset(), args.seeds, cfg.i2i_decay, cfg.candidates_per_row)
        t1 = time.process_time_ns()
        rank_fusion(scores[k], priors[k], cfg.i2i_weight)
        t2 = time.process_time_ns()
        took["item_to_item"].append((t1 - t0) / 1000)
        took["rank_fusion"].append((t2 - t1) / 1000)
    out = {
        "version": version.version,
        "items": len(model.item_ids),
        "neighbour_pairs": len(model.neighbours.indices),
        "seeds": args.seeds,
        "candidates": args.candidates,
        "cpu_us": {
            name: {q: round(float(np.percentile(v, p)), 1) for q, p in (("p50", 50), ("p99", 99))}
            for name, v in took.items()
        },
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
