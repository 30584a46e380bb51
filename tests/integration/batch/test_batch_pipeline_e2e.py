"""The nightly pipeline end to end on a tiny clustered world (see conftest ``world``), through real
Spark, Feast and Redis."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from pyspark.sql import SparkSession

from batch import io, main, sweep
from batch.config import BatchConfig, SparkConfig
from batch.embeddings import Embeddings
from batch.evaluate import Bundle
from hybridrec.catalog import write_snapshot
from hybridrec.config import Settings, with_section
from hybridrec.contract import archive_table
from hybridrec.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = date(2023, 11, 20)


@pytest.fixture(scope="module")
def run_report(spark: SparkSession, lake_settings: Settings, world: tuple) -> main.RunReport:
    items, rows = world
    write_snapshot(items, lake_settings.paths.lake_dir)
    io.write_archive_table(archive_table(rows), lake_settings.paths.lake_dir)
    cfg = BatchConfig(
        spark=SparkConfig(shuffle_partitions=2),
        window={"window_days": 10},
        als={"rank": 8, "iters": 8, "reg": 0.1},
        ranker={"epochs": 4, "hidden": (32, 16)},
        eval={"k_values": (5, 10)},
        gates={"*": {"metric": "ndcg@10"}},
        top_k={"k": 10},
        next_item={"enabled": True},  # off by default; the stage must still work
    )
    report = main.run(AS_OF, lake_settings, cfg, spark)
    report.cfg = cfg  # type: ignore[attr-defined]
    return report


def test_pipeline_trains_evaluates_registers_and_promotes(run_report: main.RunReport, lake_settings: Settings) -> None:
    r = run_report
    assert r.window["events"] == 80 * 40  # the redelivered copies are gone
    assert r.compaction["months"] == 1 and r.compaction["files_in"] > 0  # read from monthly + hourly files
    pop, als = r.metrics["popularity"], r.metrics["als"]
    cand = r.metrics["candidate/homepage/top_picks"]
    assert cand["ndcg@10"] > pop["ndcg@10"] and als["ndcg@10"] > pop["ndcg@10"], json.dumps(r.metrics)
    assert r.promoted, r.gate
    reg = ModelRegistry(lake_settings.paths.registry_root)
    assert reg.current_version() == r.version
    v = reg.current()
    assert v is not None
    v.verify()
    m = v.manifest
    assert {
        "ranker.pt",
        "feature_schema.json",
        "item_embeddings.npy",
        "faiss.index",
        "faiss_similar.index",
        "popularity.json",
        "item_neighbours.npz",
        "ease_neighbours.npz",
        "next_item.pt",
    } <= set(m["artifacts"])
    assert r.neighbours["pairs"] > 0 and m["metrics"]["neighbours"] == r.neighbours
    assert r.ease_neighbours["pairs"] > 0 and m["metrics"]["ease_neighbours"] == r.ease_neighbours
    assert r.next_item["windows"] > 0 and r.next_item["epochs"] >= 1 and m["metrics"]["next_item"] == r.next_item
    assert m["data_window"]["as_of"] == AS_OF.isoformat() and m["metrics"]["ann"]["recall"] == pytest.approx(1.0)
    assert m["metrics"]["ann_similar"]["recall"] == pytest.approx(1.0)
    assert [i["name"] for i in m["feature_schema"]["inputs"]][:3] == ["user_num", "user_genres", "item_num"]


def test_exported_ranker_loads_without_batch_code_and_matches(
    run_report: main.RunReport, lake_settings: Settings
) -> None:
    import torch

    reg = ModelRegistry(lake_settings.paths.registry_root)
    v = reg.current()
    assert v is not None
    loaded = torch.jit.load(str(v.artifact("ranker.pt")))
    rank = json.loads(v.artifact("feature_schema.json").read_text())["embedding_rank"]
    b = 3
    args = [
        torch.rand(b, 4),
        torch.rand(b, 20),
        torch.rand(b, 5),
        torch.rand(b, 20),
        torch.rand(b, 20),
        torch.rand(b, rank),
        torch.rand(b, rank),
        torch.rand(b, rank),
        torch.zeros(b, dtype=torch.long),
        torch.ones(b, dtype=torch.long),
        torch.full((b,), 20.0),
    ]
    e1, s1 = loaded(*args)
    e2, s2 = run_report.candidate.ranker(*args)  # type: ignore[union-attr]
    assert torch.allclose(e1, e2) and torch.allclose(s1, s2)
    assert ((e1 >= 0) & (e1 <= 1)).all()


def test_shuffled_embeddings_fail_the_gates_and_the_good_candidate_passes(run_report: main.RunReport) -> None:
    cfg: BatchConfig = run_report.cfg  # type: ignore[attr-defined]
    good, data = run_report.candidate, run_report.eval_data
    assert good is not None and data is not None
    rng = np.random.default_rng(0)
    e = good.emb
    broken = Bundle(
        good.ranker,
        Embeddings(e.user_ids, e.user_vecs, e.item_ids, e.item_vecs[rng.permutation(len(e.item_ids))]),
        good.vocab,
        good.popular,
    )
    surfaces = ["homepage/top_picks"]
    ok = main.gate(cfg, main.evaluate_models(data, cfg, good, None, surfaces), surfaces, 1.0)
    assert ok.passed, ok.reasons
    bad = main.gate(cfg, main.evaluate_models(data, cfg, broken, good, surfaces), surfaces, 1.0)
    assert not bad.passed
    assert any("worse than current" in reason for reason in bad.reasons), bad.reasons


def test_batch_features_are_materialized_to_redis(run_report: main.RunReport, lake_settings: Settings) -> None:
    from hybridrec.feature_store import open_store

    assert run_report.features == {"user_batch": 80, "item_batch": 48}
    store = open_store(lake_settings)
    online = store.get_online_features(
        features=["user_batch:n_events", "user_batch:genre_profile", "user_batch:mean_rating"],
        entity_rows=[{"user_id": "u0"}, {"user_id": "u1"}],
    ).to_dict()
    offline = io.features_dir(lake_settings.paths.lake_dir, "user_batch")
    import pyarrow.parquet as pq

    table = pq.read_table(offline).to_pandas().set_index("user_id")
    for k, user in enumerate(["u0", "u1"]):
        assert online["n_events"][k] == table.loc[user, "n_events"] > 0
        assert online["genre_profile"][k] == pytest.approx(list(table.loc[user, "genre_profile"]), abs=1e-6)
    items = store.get_online_features(
        features=["item_batch:popularity", "item_batch:genres"], entity_rows=[{"item_id": "0"}]
    ).to_dict()
    assert items["popularity"][0] > 0 and len(items["genres"][0]) == 2


def test_top_k_candidates_are_materialized_and_match_the_embeddings(
    run_report: main.RunReport, lake_settings: Settings, world: tuple
) -> None:
    """top_k_items/top_k_scores read through Feast: the user's best 10 unseen items by ALS score."""
    from hybridrec import seen as seen_set
    from hybridrec.feature_store import open_store

    _, rows = world
    users = ["u0", "u3"]
    store = open_store(lake_settings)
    got = store.get_online_features(
        features=["user_batch:top_k_items", "user_batch:top_k_scores", "user_batch:seen_hashes"],
        entity_rows=[{"user_id": u} for u in users],
    ).to_dict()
    emb = run_report.candidate.emb  # type: ignore[union-attr]
    for n, user in enumerate(users):
        seen = {r["item_id"] for r in rows if r["user_id"] == user and r["event_type"] != "IMPRESSION"}
        scores = emb.item_vecs @ emb.user_vecs[emb.user_pos(user)]
        want = sorted((i for i in emb.item_ids if i not in seen), key=lambda i: -scores[emb.item_pos(i)])[:10]
        items, item_scores = got["top_k_items"][n], got["top_k_scores"][n]
        assert len(items) == min(10, len(emb.item_ids) - len(seen)) > 0
        assert not set(items) & seen
        assert items == want
        assert item_scores == pytest.approx([float(scores[emb.item_pos(i)]) for i in want], abs=1e-4)
        assert item_scores == sorted(item_scores, reverse=True)
        # The seen set serving filters with: exactly the items the user engaged with, as hashes.
        assert seen_set.decode(got["seen_hashes"][n]).tolist() == sorted(seen_set.hashes(seen).tolist())


def test_a_run_whose_features_fail_publishes_and_promotes_nothing(
    run_report: main.RunReport, spark: SparkSession, lake_settings: Settings
) -> None:
    """The online store is unreachable when the next run materializes its features: the run fails, and the
    registry is as before (no new version, the promoted one unchanged). It used to promote first, so serving
    loaded a model whose batch features never arrived."""
    from tests.helpers import free_port

    reg = ModelRegistry(lake_settings.paths.registry_root)
    before = [v.version for v in reg.list()]
    assert reg.current_version() == run_report.version
    no_redis = with_section(lake_settings, "redis", port=free_port())
    cfg: BatchConfig = run_report.cfg  # type: ignore[attr-defined]
    cheap = with_section(with_section(cfg, "als", iters=2), "ranker", epochs=1)
    with pytest.raises(Exception, match=r"(?i)connect|refused"):
        main.run(AS_OF, no_redis, cheap, spark)
    assert [v.version for v in reg.list()] == before
    assert reg.current_version() == run_report.version
    # The lake lock went with the failed run: the next one may start.
    with sweep.lake_lock(lake_settings.paths.lake_dir):
        pass
