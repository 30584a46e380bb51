from pathlib import Path

import numpy as np

from batch import ann
from batch.config import FaissConfig
from hybridrec.model_artifacts import unit_rows


def test_flat_is_exact_and_ivf_recall_is_measured() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, 16))
    items = (centers[rng.integers(0, 50, 8_000)] + 0.3 * rng.normal(size=(8_000, 16))).astype(np.float32)
    queries = rng.normal(size=(200, 16)).astype(np.float32)
    flat, kind = ann.build_index(items[:500], FaissConfig())
    assert kind == "flat"
    assert ann.measure(flat, kind, items[:500], queries, 50).recall == 1.0
    cfg = FaissConfig(exact_max_items=1000, approximate="ivf", nprobe=1, recall_k=100, min_recall=0.95)
    ivf, kind = ann.build_index(items, cfg)
    assert kind == "ivf"
    first = ann.measure(ivf, kind, items, queries, 100)
    assert first.recall < 0.95  # nprobe=1 misses neighbours: the measurement compares with exact search
    tuned, report = ann.build_tuned(items, queries, cfg)
    assert report.recall >= 0.95 and tuned.nprobe > 1
    hnsw, kind = ann.build_index(items[:5000], FaissConfig(exact_max_items=1000, approximate="hnsw"))
    assert kind == "hnsw" and ann.measure(hnsw, kind, items[:5000], queries, 10).recall >= 0.9


def test_refined_ivfpq_returns_exact_scores_and_widens_until_the_recall_is_reached(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(40, 16))
    items = centers[rng.integers(0, 40, 20_000)] + 0.35 * rng.normal(size=(20_000, 16))
    items = (items * rng.lognormal(0.0, 0.5, size=(20_000, 1))).astype(np.float32)  # ALS-like norm spread
    queries = (centers[rng.integers(0, 40, 300)] + 0.35 * rng.normal(size=(300, 16))).astype(np.float32)
    cfg = FaissConfig(
        exact_max_items=1000, approximate="ivfpq", ivfpq_nlist=64, ivfpq_nprobe=1, refine_k_factor=1, min_recall=0.95
    )
    index, kind = ann.build_index(items, cfg)
    assert kind == "ivfpq" and index.d == 16 and index.ntotal == len(items)
    first = ann.measure(index, kind, items, queries, 100)
    assert first.recall < 0.95  # one list, no re-ranking depth: the measurement sees the misses
    scores, ids = index.search(queries[:5], 10)
    assert np.allclose(scores, np.take_along_axis(queries[:5] @ items.T, ids, 1), rtol=1e-4, atol=1e-4)  # exact IP
    tuned, report = ann.build_tuned(items, queries, cfg)
    assert report.recall >= 0.95 and report.kind == "ivfpq"
    path = ann.faiss.downcast_index(tuned)
    assert path.k_factor > 1 or ann.faiss.extract_index_ivf(tuned).nprobe > 1
    # The tuned knobs travel in the index file: serving reads it with faiss.read_index and searches as measured.
    ann.save(tuned, str(tmp_path / "items.faiss"))
    loaded = ann.load(str(tmp_path / "items.faiss"))
    assert ann.search_params(loaded, kind) == ann.search_params(tuned, kind) == report.params
    assert ann.measure(loaded, kind, items, queries, 100).recall == report.recall


def test_similar_items_index_input_is_unit_length_and_recall_queries_are_its_own_rows() -> None:
    rng = np.random.default_rng(3)
    items = (rng.normal(size=(500, 8)) * rng.lognormal(0.0, 1.0, size=(500, 1))).astype(np.float32)
    items[7] = 0.0  # an item ALS never saw: stays a zero row instead of NaN
    unit = unit_rows(items)
    norms = np.linalg.norm(unit, axis=1)
    assert unit.dtype == np.float32 and norms[7] == 0.0 and np.allclose(np.delete(norms, 7), 1.0, atol=1e-5)
    assert np.allclose(unit[3] * np.linalg.norm(items[3]), items[3], atol=1e-5)
    queries = ann.sample_rows(unit, 50)
    assert len(queries) == 50 and all(any(np.array_equal(q, u) for u in unit) for q in queries)
    assert ann.sample_rows(unit, 5000) is unit
