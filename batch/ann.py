"""FAISS index over the item vectors for candidate retrieval, with its recall against exact search measured.

Inner product (the ALS score). Exact ``IndexFlatIP`` while the catalog is small enough to scan; above
``exact_max_items`` a refined IVF-PQ (or HNSW, or IVF-Flat) index whose recall@k against the exact top k
is measured on real user vectors and stored with the model (with the search knobs it was measured at), so a
silently bad index cannot be promoted unnoticed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import faiss
import numpy as np

from batch.config import FaissConfig


@dataclass(frozen=True)
class AnnReport:
    kind: str
    n_items: int
    k: int
    recall: float
    qps_index: float
    qps_exact: float
    params: dict[str, float] = field(default_factory=dict)  # the search knobs the recall was measured with

    def as_dict(self) -> dict[str, float | str | dict[str, float]]:
        return {
            "kind": self.kind,
            "n_items": self.n_items,
            "k": self.k,
            "recall": self.recall,
            "qps_index": self.qps_index,
            "qps_exact": self.qps_exact,
            "params": self.params,
        }


def build_index(vectors: np.ndarray, cfg: FaissConfig) -> tuple[faiss.Index, str]:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    if n <= cfg.exact_max_items:
        index = faiss.IndexFlatIP(d)
        index.add(x)
        return index, "flat"
    if cfg.approximate == "hnsw":
        index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.hnsw_ef_construction
        index.hnsw.efSearch = cfg.hnsw_ef_search
        index.add(x)
        return index, "hnsw"
    if cfg.approximate == "ivfpq":
        return _ivfpq_refined(x, cfg), "ivfpq"
    nlist = cfg.nlist or max(1, int(4 * math.sqrt(n)))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(sample_rows(x, cfg.ivf_train_per_list * nlist))
    index.add(x)
    index.nprobe = min(cfg.nprobe, nlist)
    return index, "ivf"


def _ivfpq_refined(x: np.ndarray, cfg: FaissConfig) -> faiss.Index:
    """IVF over 4-bit fast-scan PQ codes of the residuals (one sub-quantizer per dimension), then exact
    inner-product re-ranking of the best ``k_factor × k`` candidates (``IndexRefineFlat``). The cheap SIMD code
    scan is what lets the search visit many lists (top-k by inner product spreads over directions because of
    the norm spread), and the exact re-ranking returns true scores, so callers see plain inner products."""
    n, d = x.shape
    nlist = cfg.ivfpq_nlist or max(1, int(math.sqrt(n) / 4))
    index = faiss.index_factory(d, f"IVF{nlist},PQ{d}x4fsr,RFlat", faiss.METRIC_INNER_PRODUCT)
    index.train(sample_rows(x, cfg.ivfpq_train_per_list * nlist))
    index.add(x)
    faiss.extract_index_ivf(index).nprobe = min(cfg.ivfpq_nprobe, nlist)
    faiss.downcast_index(index).k_factor = float(cfg.refine_k_factor)
    return index


def measure(index: faiss.Index, kind: str, vectors: np.ndarray, queries: np.ndarray, k: int) -> AnnReport:
    """Recall@k of ``index`` against exact inner-product search for ``queries``, and both query rates."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, x.shape[0])
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    t0 = time.perf_counter()
    _, truth = exact.search(q, k)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, got = index.search(q, k)
    t_index = time.perf_counter() - t0
    hits = sum(len(set(g[g >= 0]) & set(t)) for g, t in zip(got, truth, strict=True))
    return AnnReport(
        kind,
        x.shape[0],
        k,
        hits / (k * len(q)),
        len(q) / max(t_index, 1e-9),
        len(q) / max(t_exact, 1e-9),
        search_params(index, kind),
    )


def search_params(index: faiss.Index, kind: str) -> dict[str, float]:
    """The index's search-time knobs (what a reader needs to reproduce the stored recall)."""
    if kind == "hnsw":
        return {
            "M": index.hnsw.nb_neighbors(1),
            "efSearch": index.hnsw.efSearch,
            "efConstruction": index.hnsw.efConstruction,
        }
    if kind == "ivf":
        return {"nlist": index.nlist, "nprobe": index.nprobe}
    if kind == "ivfpq":
        ivf = faiss.extract_index_ivf(index)
        return {"nlist": ivf.nlist, "nprobe": ivf.nprobe, "k_factor": faiss.downcast_index(index).k_factor}
    return {}


def build_tuned(vectors: np.ndarray, queries: np.ndarray, cfg: FaissConfig) -> tuple[faiss.Index, AnnReport]:
    """Build the index, then raise IVF ``nprobe`` (HNSW ``efSearch``; IVF-PQ ``nprobe`` or ``k_factor``) by
    doubling until recall@k against exact search on ``queries`` reaches ``cfg.min_recall`` (or the search is
    exhaustive); report the final figures."""
    index, kind = build_index(vectors, cfg)
    report = measure(index, kind, vectors, queries, cfg.recall_k)
    while report.recall < cfg.min_recall:
        if kind == "ivf" and index.nprobe < index.nlist:
            index.nprobe = min(index.nlist, index.nprobe * 2)
        elif kind == "hnsw" and index.hnsw.efSearch < 4096:
            index.hnsw.efSearch *= 2
        elif kind != "ivfpq" or not _widen_ivfpq(index):
            break
        report = measure(index, kind, vectors, queries, cfg.recall_k)
    return index, report


MAX_K_FACTOR = 64.0


def _widen_ivfpq(index: faiss.Index) -> bool:
    """One step wider: double whichever of the lists visited (``nprobe``, as a share of ``nlist``) and the
    exactly re-ranked candidates (``k_factor``, as a share of its limit) is relatively smaller; False when
    both are at their limit."""
    refine, ivf = faiss.downcast_index(index), faiss.extract_index_ivf(index)
    can_probe, can_refine = ivf.nprobe < ivf.nlist, refine.k_factor < MAX_K_FACTOR
    if can_probe and (not can_refine or ivf.nprobe / ivf.nlist <= refine.k_factor / MAX_K_FACTOR):
        ivf.nprobe = min(ivf.nlist, ivf.nprobe * 2)
    elif can_refine:
        refine.k_factor = min(MAX_K_FACTOR, refine.k_factor * 2)
    else:
        return False
    return True


def sample_rows(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` rows of ``x`` chosen at random (IVF training sets; recall queries drawn from the indexed
    items themselves)."""
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).choice(len(x), n, replace=False)]


def save(index: faiss.Index, path: str) -> None:
    faiss.write_index(index, path)


def load(path: str) -> faiss.Index:
    return faiss.read_index(path)
