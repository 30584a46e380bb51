"""FAISS benchmark: recall@100 and queries/s of the pipeline's approximate index against exact search.

    .venv/bin/python benchmarks/faiss_ann.py [--items 1000000] [--dim 32] [--queries 1000]
        [--data clustered|gaussian|both] [--kinds tuned,refine,hnsw,ivf] [--ef 128,256,512,1024] [--nlist default]
        [--nprobe 32,64,128,256] [--hnsw-m 32] [--ef-construction 200]
        [--factory "IVF1024,PQ16x4fs,RFlat" --kfactor 2,4,8]

The indexes are the ones ``batch.ann.build_index`` builds above ``faiss.exact_max_items`` with the batch
config (HNSW: ``hnsw_m``, ``hnsw_ef_construction``; IVF-Flat: ``nlist`` default 4·sqrt(n)); the sweep varies
only the search-time knob. Every index answers the same queries as one batch with all of FAISS's threads;
the exact baseline is ``IndexFlatIP`` over the same vectors, its rate re-measured right before each row.
``--factory`` adds any ``faiss.index_factory`` description (inner product), swept over ``nprobe`` and, for a
refined index (``…,RFlat``: compressed codes, then exact re-ranking of ``k_factor × k`` candidates),
``--kfactor`` (a ``:spherical`` suffix trains the IVF k-means on directions; for inner product FAISS already
does); ``--kinds refine`` sweeps the pipeline's own refined IVF-PQ (``approximate = "ivfpq"``); ``--kinds
tuned`` runs ``batch.ann.build_tuned`` with the config's defaults as a pipeline run does (its recall and rates
measured inside, exact on all queries at the same moment).

Data (the dimension is the ALS rank the pipeline uses):
- ``clustered``: vectors shaped like trained ALS factors: a mixture of 256 taste clusters (Gaussian centres,
  within-cluster spread 0.35 of the centre scale) with a log-normal norm per item (popular items have
  larger ALS norms); queries are drawn from the same mixture (users resemble the items they like).
- ``gaussian``: i.i.d. N(0, 1) items and queries, the hardest case for any ANN index (no structure).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faiss

from batch.ann import build_index, build_tuned
from batch.config import FaissConfig, load_batch_config


def clustered(n: int, d: int, rng: np.random.Generator, clusters: int = 256) -> np.ndarray:
    centres = rng.normal(size=(clusters, d)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    x = centres[which] + 0.35 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (x * rng.lognormal(0.0, 0.5, size=(n, 1))).astype(np.float32)


def gaussian(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, d)).astype(np.float32)


def timed_search(index: faiss.Index, q: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    _, ids = index.search(q, k)
    return ids, len(q) / (time.perf_counter() - t0)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(g[g >= 0].tolist()) & set(t.tolist())) for g, t in zip(got, truth, strict=True)) / truth.size


def exact_qps(exact: faiss.Index, q: np.ndarray, k: int) -> float:
    """Exact search rate on 200 queries, measured right before each approximate one (the machine is
    shared: only a ratio of two rates taken at the same moment means something)."""
    return timed_search(exact, q[:200], k)[1]


def run(
    kind: str,
    x: np.ndarray,
    q: np.ndarray,
    k: int,
    cfg: FaissConfig,
    nlists: list[int | None],
    nprobes: list[int],
    kinds: list[str],
    efs: list[int],
    factories: list[str],
    kfactors: list[float],
) -> None:
    n, d = x.shape
    exact = faiss.IndexFlatIP(d)
    exact.add(x)
    truth, qps = timed_search(exact, q, k)
    print(f"\n### {kind}: {n} items, d={d}, {len(q)} queries, k={k}; exact IndexFlatIP {qps:.0f} q/s\n")
    print(f"| index | knob | recall@{k} | q/s | exact q/s (same moment) | × exact |\n|---|---|---|---|---|---|")

    def row(name: str, knob: str, index: faiss.Index) -> None:
        ref = exact_qps(exact, q, k)
        got, qps = timed_search(index, q, k)
        print(f"| {name} | {knob} | {recall(got, truth):.4f} | {qps:.0f} | {ref:.1f} | {qps / ref:.1f} |", flush=True)

    if "ivf" in kinds:
        for nlist in nlists:
            t0 = time.perf_counter()
            c = cfg.model_copy(update={"exact_max_items": 1, "approximate": "ivf", "nlist": nlist})
            index, _ = build_index(x, c)
            print(f"| ivf | nlist={index.nlist}, built in {time.perf_counter() - t0:.0f} s | | | | |")
            for p in nprobes:
                index.nprobe = p
                row("ivf", f"nlist={index.nlist} nprobe={p}", index)
    if "hnsw" in kinds:
        t0 = time.perf_counter()
        h, _ = build_index(x, cfg.model_copy(update={"exact_max_items": 1, "approximate": "hnsw"}))
        print(
            f"| hnsw | M={cfg.hnsw_m} efConstruction={cfg.hnsw_ef_construction}, built in "
            f"{time.perf_counter() - t0:.0f} s | | | | |"
        )
        for ef in efs:
            h.hnsw.efSearch = ef
            row("hnsw", f"efSearch={ef}", h)
    built: list[tuple[str, faiss.Index]] = []
    for spec in factories:
        t0 = time.perf_counter()
        desc, _, opt = spec.partition(":")
        index = faiss.index_factory(d, desc, faiss.METRIC_INNER_PRODUCT)
        if opt == "spherical":  # k-means on directions: lists partition directions, not norm shells
            faiss.extract_index_ivf(index).cp.spherical = True
        index.train(x[np.random.default_rng(0).choice(n, min(n, 256 * 1024), replace=False)])
        index.add(x)
        print(f"| {spec} | built in {time.perf_counter() - t0:.0f} s | | | | |")
        built.append((spec, index))
    if "refine" in kinds:
        t0 = time.perf_counter()
        index, _ = build_index(x, cfg.model_copy(update={"exact_max_items": 1, "approximate": "ivfpq"}))
        print(
            f"| pipeline ivfpq | nlist={faiss.extract_index_ivf(index).nlist}, built in "
            f"{time.perf_counter() - t0:.0f} s | | | | |"
        )
        built.append(("pipeline ivfpq", index))
    if "tuned" in kinds:  # what a pipeline run does: build, then widen until min_recall on these queries
        t0 = time.perf_counter()
        index, rep = build_tuned(x, q, cfg.model_copy(update={"exact_max_items": 1}))
        print(
            f"| pipeline {rep.kind}, tuned to min_recall {cfg.min_recall} | {rep.params}, built and tuned in "
            f"{time.perf_counter() - t0:.0f} s | {rep.recall:.4f} | {rep.qps_index:.0f} | {rep.qps_exact:.1f} | "
            f"{rep.qps_index / rep.qps_exact:.1f} |",
            flush=True,
        )
    for spec, index in built:
        refine = faiss.downcast_index(index)
        refine = refine if isinstance(refine, faiss.IndexRefine) else None
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError:  # not an IVF: exhaustive scan (e.g. fast-scan PQ codes)
            ivf = None
        for p in nprobes if ivf is not None else [0]:
            if ivf is not None:
                ivf.nprobe = p
            for kf in kfactors if refine is not None else [1.0]:
                if refine is not None:
                    refine.k_factor = kf
                knob = f"nlist={ivf.nlist} nprobe={p}" if ivf is not None else "exhaustive"
                row(spec, knob + (f" k_factor={kf:g}" if refine is not None else ""), index)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, help="default: the ALS rank of the batch config")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--data", choices=["clustered", "gaussian", "both"], default="both")
    p.add_argument("--nlist", default="default", help="comma list; 'default' = the config's (4·sqrt(n))")
    p.add_argument("--nprobe", default="32,64,128,256")
    p.add_argument("--kinds", default="tuned,refine", help="tuned,refine (the pipeline's IVF-PQ), hnsw, ivf")
    p.add_argument("--ef", default="128,256,512,1024")
    p.add_argument("--hnsw-m", type=int, help="default: the batch config's hnsw_m")
    p.add_argument("--ef-construction", type=int, help="default: the batch config's hnsw_ef_construction")
    p.add_argument("--factory", action="append", default=[], help="faiss.index_factory string (repeatable)")
    p.add_argument("--kfactor", default="8,16,32", help="k_factor sweep of refined (RFlat) indexes")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cfg = load_batch_config()
    d = args.dim or cfg.als.rank
    fcfg = cfg.faiss.model_copy(
        update={
            "hnsw_m": args.hnsw_m or cfg.faiss.hnsw_m,
            "hnsw_ef_construction": args.ef_construction or cfg.faiss.hnsw_ef_construction,
        }
    )
    print(
        f"## FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()}; pipeline defaults: {cfg.faiss.model_dump()}"
    )
    kinds = ["clustered", "gaussian"] if args.data == "both" else [args.data]
    for kind in kinds:
        rng = np.random.default_rng(args.seed)
        make = clustered if kind == "clustered" else gaussian
        x, q = make(args.items, d, rng), make(args.queries, d, rng)
        nlists = [None if v == "default" else int(v) for v in args.nlist.split(",")]
        run(
            kind,
            x,
            q,
            args.k,
            fcfg,
            nlists,
            [int(v) for v in args.nprobe.split(",")],
            args.kinds.split(","),
            [int(v) for v in args.ef.split(",")],
            args.factory,
            [float(v) for v in args.kfactor.split(",")],
        )
    print(f"\nload average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
