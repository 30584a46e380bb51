"""Offline try of a sequence-aware next-item model (issue #15 item 4) on exactly the replay's targets.

For each dataset and history fraction: the replay's cut and targets (``hybridrec.nextitem``), the item-to-item
co-occurrence baseline, the sequence model (SASRec- or GRU4Rec-style, :mod:`hybridrec.sequence`) and a blend of
the two's scores, each with its hyper-parameters chosen by NDCG@10 on the validation cut inside the history
(:func:`evaluation.offline.run_baselines`, the code the replay's baselines use), fed with everything the user
engaged with before each target, seen items excluded. Prints NDCG@10 / HR@10 / Recall@20.

    flock /tmp/hybridrec-bench.lock .venv/bin/python benchmarks/sequence_quality.py \
        [--dataset ml-100k ml-latest-small] [--fraction 0.9 0.8 0.95] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from evaluation.baselines import CoOccurrence, Method, Training  # noqa: E402
from evaluation.baselines.sequence import NextItem, blends  # noqa: E402
from evaluation.offline import BASELINES, Baseline, run_baselines  # noqa: E402
from hybridrec import metrics, nextitem  # noqa: E402
from hybridrec.datasets import load_dataset  # noqa: E402

CO_OCCURRENCE = next(b for b in BASELINES if b.make is CoOccurrence)
SEQUENCE_GRID: tuple[dict[str, Any], ...] = (
    {"encoder": "sasrec", "max_len": 50, "epochs": 20},
    {"encoder": "gru", "max_len": 50, "epochs": 20},
)
BLEND_GRID = tuple({"weight": w, "how": h} for h in ("rank", "score") for w in (0.1, 0.2, 0.3, 0.5, 0.7))


class Memo:
    """A method factory whose fits are remembered per (parameters, training set), so the blend's grid reuses the
    components the first pass fitted (run_baselines builds a new Training per call; equal data, equal key)."""

    def __init__(self, make: Callable[..., Method]) -> None:
        self.make, self.fitted = make, {}

    def __call__(self, **params: Any) -> Method:
        memo = self

        class Remembered:
            name = "remembered"

            def fit(self, train: Training) -> None:
                key = (
                    json.dumps(params, sort_keys=True),
                    train.n_items,
                    len(train.sequences),
                    float(train.counts.sum()),
                )
                if key not in memo.fitted:
                    m = memo.make(**params)
                    m.fit(train)
                    memo.fitted[key] = m
                self.method = memo.fitted[key]

            def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
                return self.method.scores(histories)

        return Remembered()


def headline(lists: list[list[str]], targets: list[nextitem.Target]) -> dict[str, float]:
    n = max(len(targets), 1)
    pairs = [(r, {t.item_id}) for r, t in zip(lists, targets, strict=True)]
    return {
        "ndcg@10": round(sum(metrics.ndcg_at_k(r, rel, 10) for r, rel in pairs) / n, 4),
        "hr@10": round(sum(metrics.hit_at_k(r, rel, 10) for r, rel in pairs) / n, 4),
        "recall@20": round(sum(metrics.recall_at_k(r, rel, 20) for r, rel in pairs) / n, 4),
    }


def print_run(r: dict[str, Any], base: float, label: str) -> None:
    """One dataset and cut: every method's NDCG@10 / HR@10 / Recall@20, its ratio to ``base`` and its params."""
    print(f"\n{r['dataset']} @ history fraction {r['fraction']} ({r['targets']:,} targets, {r['seconds']:.0f} s)")
    print(f"  {'method':<34}{'NDCG@10':>9}{'HR@10':>8}{'R@20':>8}{label:>8}  params")
    for name, m in r["methods"].items():
        ratio = m["ndcg@10"] / base if base else float("nan")
        print(
            f"  {name:<34}{m['ndcg@10']:>9.4f}{m['hr@10']:>8.4f}{m['recall@20']:>8.4f}{ratio:>8.3f}  {m['params']}",
            flush=True,
        )


def run(dataset: str, fraction: float, max_per_user: int, seq_grid: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    ds = load_dataset(dataset)
    events = pa.Table.from_batches(list(ds.batches(65_536)))
    c = nextitem.cut(events, fraction)
    targets = nextitem.select_targets(c.history, c.live, max_per_user=max_per_user)
    timeline = nextitem.Timeline([c.history, c.live])
    print(f"{dataset} @ {fraction}: {len(targets):,} targets", flush=True)
    cooc_memo, seq_memo = Memo(CoOccurrence), Memo(NextItem)
    first = run_baselines(
        c.history,
        timeline,
        targets,
        max_per_user=max_per_user,
        baselines=(
            Baseline(CO_OCCURRENCE.name, cooc_memo, CO_OCCURRENCE.grid),
            Baseline("sequence model", seq_memo, seq_grid),
        ),
    )
    cooc, seq = first
    blend = Baseline(
        "blend (item-to-item + sequence)",
        blends(lambda: cooc_memo(**cooc.params), lambda: seq_memo(**seq.params)),
        BLEND_GRID,
    )
    results = [*first, *run_baselines(c.history, timeline, targets, max_per_user=max_per_user, baselines=(blend,))]
    out: dict[str, Any] = {"dataset": dataset, "fraction": fraction, "targets": len(targets), "methods": {}}
    for r in results:
        out["methods"][r.name] = {**headline(r.lists, targets), **r.summary()}
    return out


def run_cells(args: argparse.Namespace, run: Callable[[str, float, argparse.Namespace], dict[str, Any]]) -> int:
    """``run`` every dataset at every fraction (torch on ``--threads``), the results also to ``--json``."""
    torch.set_num_threads(args.threads)
    runs = [run(d, f, args) for d in args.dataset for f in args.fraction]
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    return 0


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every offline quality benchmark on the replay's targets takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--dataset", nargs="+", default=["ml-100k", "ml-latest-small"])
    ap.add_argument("--fraction", nargs="+", type=float, default=[0.9])
    ap.add_argument("--max-targets-per-user", type=int, default=50)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: OpenMP spinning on a shared 2-core machine made 2 threads 3-5x slower)",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    return ap


def main() -> int:
    ap = arguments(__doc__.splitlines()[0])
    ap.add_argument("--grid", type=json.loads, default=None, help="JSON list of sequence-model parameter dicts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    grid = tuple(args.grid) if args.grid else SEQUENCE_GRID
    runs = []
    for dataset in args.dataset:
        for fraction in args.fraction:
            t0 = time.perf_counter()
            r = run(dataset, fraction, args.max_targets_per_user, grid)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            runs.append(r)
            print_run(r, r["methods"][CO_OCCURRENCE.name]["ndcg@10"], "× i2i")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
