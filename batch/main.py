"""The nightly batch pipeline, wired: archive → clean events → states → ALS → examples → ranker → replay
evaluation of the newest window (popularity, ALS, candidate, current) → FAISS → gates → registry → Feast.

Each stage is a function over the previous stages' outputs, so tests can run one stage on tiny data and
``run`` is only the order. Time split of the window's events (actual first to last event):
``[t0, t1)`` embeddings and history only, ``[t1, t2)`` labelled ranker examples, ``[t2, end)`` holdout.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch import ann, bundle, compact, feast_sink, fusion, io, ranker, sweep, topk
from batch import transforms as tr
from batch.config import BatchConfig, NextItemConfig
from batch.embeddings import Embeddings, fit_als
from batch.evaluate import Bundle, EvalData, evaluate_all, recommend, recommend_popularity
from batch.gates import GateDecision, decide
from batch.neighbours import choose_prior, ease_neighbours, engagements, item_neighbours
from hybridrec import contract, fresh_features, nextitem, sequence
from hybridrec.config import Settings
from hybridrec.contract import ARCHIVE_SCHEMA
from hybridrec.fusion import Learned
from hybridrec.model_artifacts import unit_rows
from hybridrec.prior_choice import Choice, Engagements
from hybridrec.registry import ModelRegistry, RegistryError

log = logging.getLogger("hybridrec.batch")


@dataclass
class Timer:
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(time.perf_counter() - t0, 3)
            log.info("stage %s: %.1fs", name, self.stages[name])


@dataclass
class Prepared:
    """Cleaned events (cached) and everything derived from them that several stages share."""

    events: DataFrame
    catalog: DataFrame
    genres: DataFrame
    ustate: DataFrame
    istate: DataFrame
    gstate: DataFrame
    t0: int
    t1: int
    t2: int
    end: int
    n_events: int


def prepare(spark: SparkSession, settings: Settings, cfg: BatchConfig, as_of: date) -> Prepared:
    """Read the window (plus late partitions), clean, split in time, build the state tables."""
    end = io.as_of_end_ms(as_of)
    first_day = as_of - timedelta(days=cfg.window.window_days - 1)
    start = io.as_of_end_ms(first_day) - 86_400_000
    # Late events: filed by event time they land in old partitions, which every run re-reads in full; filed
    # by arrival time they land after the window, hence the extra ``late_days`` read (and filtered by time).
    raw = io.read_archive(spark, settings.paths.lake_dir, first_day, as_of + timedelta(days=cfg.window.late_days))
    events = tr.clean_events(raw, start, end, cfg.eval.positive_event_types).persist()
    stats = events.agg(F.min("event_time_ms"), F.max("event_time_ms"), F.count(F.lit(1))).first()
    if stats is None or not stats[2]:
        raise RuntimeError(f"no events in the archive for {first_day}..{as_of} under {settings.paths.lake_dir}")
    lo, hi, n = int(stats[0]), int(stats[1]) + 1, int(stats[2])
    span = hi - lo
    t2 = lo + int(span * (1 - cfg.window.holdout_fraction))
    t1 = lo + int(span * (1 - cfg.window.holdout_fraction - cfg.window.label_fraction))
    catalog = io.read_catalog(spark, settings.paths.lake_dir).cache()
    genres = tr.genre_vectors(catalog).cache()
    ustate = tr.user_state(events, genres, catalog).persist()
    istate = tr.item_state(events).persist()
    gstate = tr.global_state(events).persist()
    return Prepared(events, catalog, genres, ustate, istate, gstate, lo, t1, t2, end, n)


def fit_embeddings(p: Prepared, cfg: BatchConfig, until_ms: int) -> Embeddings:
    before = p.events.filter(F.col("event_time_ms") < until_ms)
    return fit_als(tr.implicit_feedback(before, cfg.als.event_weights), cfg.als)


def training_examples(p: Prepared, cfg: BatchConfig) -> pd.DataFrame:
    """Labelled examples of ``[t1, t2)`` with point-in-time features, as pandas (sampled to the budget)."""
    prior = tr.item_counts(p.events.filter(F.col("event_time_ms") < p.t1))
    q = tr.labelled_queries(
        p.events,
        p.catalog.select("item_id"),
        prior,
        p.t1,
        p.t2,
        cfg.ranker.negatives_per_positive,
        cfg.ranker.seed,
        popularity_share=cfg.ranker.popularity_negative_share,
        impression_negatives=cfg.ranker.impression_negatives,
    )
    # Sample in Spark, before features are attached and rows collected: the driver holds only the budget.
    q = q.persist()
    n = q.count()
    if n > cfg.ranker.max_examples:
        q = q.sample(fraction=cfg.ranker.max_examples / n, seed=cfg.ranker.seed)
    feats = tr.attach_features(q, p.ustate, p.istate, p.gstate, p.genres, p.catalog)
    out = feats.toPandas()
    q.unpersist()
    return out


def train_ranker(
    examples: pd.DataFrame, emb: Embeddings, cfg: BatchConfig
) -> tuple[ranker.MultiTaskRanker, ranker.Vocab, dict[str, float]]:
    if len(examples) > cfg.ranker.max_examples:
        examples = examples.sample(cfg.ranker.max_examples, random_state=cfg.ranker.seed)
    vocab = ranker.Vocab.fit(examples["surface"], examples["device"])
    inputs = {
        **ranker.user_inputs(examples, emb, fresh_features.session_gap_ms()),
        **ranker.item_inputs(examples, emb),
        "surface": vocab.ids(examples["surface"].tolist(), "surface"),
        "device": vocab.ids(examples["device"].tolist(), "device"),
    }
    sat = examples["satisfaction"].to_numpy(dtype=np.float64)
    model, stats = ranker.train(inputs, examples["engage"].to_numpy(), sat, vocab, emb.rank, cfg.ranker)
    stats["positive_share"] = float(examples["engage"].mean())
    return model, vocab, stats


def eval_data(p: Prepared, cfg: BatchConfig) -> EvalData:
    """The newest validation window ``[t2, end)`` as next-item cases (``batch.evaluate``), with each case's
    as-of user frame and the as-of-``t2`` item frame. Only the sampled users' events reach the driver."""
    e = cfg.eval
    spark = p.events.sparkSession
    before = p.events.filter(F.col("event_time_ms") < p.t2)
    window = p.events.filter(F.col("event_time_ms") >= p.t2)
    known = {r[0] for r in before.filter("engaged").select("item_id").distinct().collect()}
    active = [r[0] for r in window.filter("engaged").select("user_id").distinct().collect()]
    users = sorted(active, key=lambda u: (zlib.crc32(u.encode()), u))[: e.max_users]  # stable sample
    sample = F.broadcast(spark.createDataFrame([(u,) for u in users], "user_id string"))
    # Of the time before t2, target selection reads only each user's engaged items (the whole history can be
    # millions of rows); the window's events of the sample come whole, in stream order.
    seen = before.filter("engaged").join(sample, "user_id").select("user_id", "item_id").distinct().toPandas()
    history = pa.table(
        {
            "user_id": pa.array(seen["user_id"].tolist(), pa.string()),
            "item_id": pa.array(seen["item_id"].tolist(), pa.string()),
            "event_time_ms": pa.array([p.t2 - 1] * len(seen), pa.int64()),
            "event_type": pa.array([e.positive_event_types[0]] * len(seen), pa.string()),
        }
    )
    columns = ("event_id", "user_id", "item_id", "event_type", "value", "event_time_ms")
    live = pa.Table.from_pandas(
        window.join(sample, "user_id").select(*columns).toPandas(),
        preserve_index=False,
        schema=pa.schema([ARCHIVE_SCHEMA.field(c) for c in columns]),
    ).sort_by(nextitem.ORDER)
    targets = nextitem.select_targets(
        history, live, max_per_user=e.max_targets_per_user, engagement=e.positive_event_types, known_items=known
    )
    kinds, values = live.column("event_type").to_pylist(), live.column("value").to_pylist()
    targets = [t for t in targets if kinds[t.position] != "RATING" or values[t.position] >= e.min_relevance_rating]
    rank = {u: n for n, u in enumerate(users)}
    targets = sorted(targets, key=lambda t: (rank[t.user_id], t.time_ms, t.position))[: e.max_cases]
    truth = nextitem.Timeline([history, live], e.positive_event_types)
    cases = [f"{t.user_id}@{t.time_ms}:{t.position}" for t in targets]
    uq = spark.createDataFrame(
        [(c, t.user_id, t.time_ms) for c, t in zip(cases, targets, strict=True)],
        "case_id string, user_id string, query_ms long",
    )
    uq = uq.join(tr.last_device(before), "user_id", "left")
    user_frame = tr.attach_user_features(uq, p.ustate).toPandas().set_index("case_id").loc[cases].reset_index()
    iq = p.catalog.select("item_id").withColumn("query_ms", F.lit(p.t2).cast("long"))
    item_frame = tr.attach_item_features(iq, p.istate, p.gstate, p.genres, p.catalog).toPandas()
    item_frame = item_frame.sort_values("item_id").reset_index(drop=True)
    counts = tr.item_counts(before).toPandas().sort_values(["n", "item_id"], ascending=[False, True])
    total = float(counts["n"].sum()) or 1.0
    pairs = list(zip(cases, targets, strict=True))
    return EvalData(
        cases,
        {c: {t.item_id} for c, t in pairs},
        {c: set(truth.engaged_before(t.user_id, t.time_ms)) for c, t in pairs},
        user_frame,
        item_frame,
        counts["item_id"].tolist(),
        dict(zip(counts["item_id"], counts["n"] / total, strict=True)),
        fresh_features.session_gap_ms(),
    )


def train_next_item(seqs: list[np.ndarray], n_items: int, cfg: NextItemConfig) -> sequence.NextItemModel:
    """The sequence model on the window's engagement sequences (item positions), with the configured threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return sequence.train(seqs, n_items, cfg)
    finally:
        torch.set_num_threads(threads)


def fit_fusion(
    p: Prepared, cfg: BatchConfig, engaged: Engagements, item_ids: list[str], choice: Choice | None
) -> tuple[Learned | None, dict[str, Any]]:
    """FOR_YOU's learned fusion on the window's engagements (``batch.fusion``), with each item's genre vector."""
    vecs = dict(p.genres.select("item_id", "genre_vec").toPandas().itertuples(index=False, name=None))
    other = contract.genre_vector([])
    genres = np.array([vecs.get(i, other) for i in item_ids], np.float32)
    return fusion.fit(
        engaged,
        len(item_ids),
        lambda seqs: item_neighbours(seqs, item_ids, cfg.neighbours),
        lambda seqs: ease_neighbours(seqs, item_ids, cfg.ease) if cfg.ease.enabled else None,
        genres,
        choice,
        cfg.prior,
        cfg.fusion,
    )


def surfaces_to_evaluate(p: Prepared, cfg: BatchConfig) -> list[str]:
    if cfg.eval_surfaces:
        return list(cfg.eval_surfaces)
    top = (
        p.events.filter(F.col("event_time_ms") < p.t2)
        .filter("engaged")
        .groupBy("surface")
        .count()
        .orderBy(F.desc("count"), "surface")
        .first()
    )
    return [top["surface"] if top else ""]


def evaluate_models(
    data: EvalData, cfg: BatchConfig, candidate: Bundle, current: Bundle | None, surfaces: list[str]
) -> dict[str, Any]:
    """Metrics of popularity, ALS alone, and the ranker of candidate (and current) for each surface."""
    k = max(cfg.eval.k_values)
    recs: dict[str, dict[str, list[str]]] = {
        "popularity": recommend_popularity(data, k),
        "als": recommend(candidate, data, k, surface=None, n_candidates=cfg.ranker.candidates),
    }
    for s in surfaces:
        recs[f"candidate/{s}"] = recommend(candidate, data, k, surface=s, n_candidates=cfg.ranker.candidates)
        if current is not None:
            recs[f"current/{s}"] = recommend(current, data, k, surface=s, n_candidates=cfg.ranker.candidates)
    return evaluate_all(data, cfg.eval.k_values, recs)


def gate(cfg: BatchConfig, results: dict[str, Any], surfaces: list[str], ann_recall: float | None) -> GateDecision:
    cand = {s: results[f"candidate/{s}"] for s in surfaces}
    cur = {s: results[f"current/{s}"] for s in surfaces if f"current/{s}" in results} or None
    return decide(cfg, cand, results["popularity"], cur, cfg.faiss.min_recall, ann_recall)


@dataclass
class RunReport:
    version: str | None
    promoted: bool
    gate: dict[str, Any]
    metrics: dict[str, Any]
    ann: dict[str, Any]
    stages: dict[str, float]
    window: dict[str, int]
    features: dict[str, int]
    train: dict[str, float]
    compaction: dict[str, int] = field(default_factory=dict)
    swept: dict[str, int] = field(default_factory=dict)
    neighbours: dict[str, int] = field(default_factory=dict)
    next_item: dict[str, Any] = field(default_factory=dict)  # the sequence model's fit (empty: not trained)
    ease_neighbours: dict[str, int] = field(default_factory=dict)  # EASE's lists (empty: not published)
    prior: dict[str, Any] = field(default_factory=dict)  # FOR_YOU's prior weights chosen (empty: none)
    fusion: dict[str, Any] = field(default_factory=dict)  # FOR_YOU's learned fusion's fit (empty: not fit)
    candidate: Bundle | None = field(default=None, repr=False)
    eval_data: EvalData | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("candidate", "eval_data")}


def run(as_of: date, settings: Settings, cfg: BatchConfig, spark: SparkSession | None = None) -> RunReport:
    """One nightly run; returns what it did. Keeps the current model when the candidate fails a gate. Holds the
    lake's batch lock throughout (a second run on the same lake is refused, not interleaved)."""
    with sweep.lake_lock(settings.paths.lake_dir):
        return _run(as_of, settings, cfg, spark)


def _run(as_of: date, settings: Settings, cfg: BatchConfig, spark: SparkSession | None) -> RunReport:
    timer = Timer()
    registry = ModelRegistry(settings.paths.registry_root)
    with timer.stage("sweep"):
        swept = sweep.sweep_leftovers(
            settings.paths.lake_dir,
            registry,
            as_of - timedelta(days=cfg.window.late_days),
            settings.kafka.topics.interactions_retention_ms,
        )
    with timer.stage("spark_session"):
        spark = spark or io.spark_session(cfg.spark, settings.paths.deps_dir)
    compaction: dict[str, int] = {}
    if cfg.compact_archive:
        with timer.stage("archive_compaction"):
            # days up to as_of − late_days: the newest days stay hourly (Flink may still file late events there)
            until = as_of - timedelta(days=cfg.window.late_days)
            compaction = compact.compact(settings.paths.lake_dir, until).as_dict()
    with timer.stage("etl_and_states"):
        p = prepare(spark, settings, cfg, as_of)
    with timer.stage("als_for_examples"):
        emb_hist = fit_embeddings(p, cfg, p.t1)
    with timer.stage("training_examples"):
        examples = training_examples(p, cfg)
    with timer.stage("ranker_training"):
        model, vocab, train_stats = train_ranker(examples, emb_hist, cfg)
    with timer.stage("als_final"):
        emb = fit_embeddings(p, cfg, p.t2)
    with timer.stage("holdout_frames"):
        data = eval_data(p, cfg)
        surfaces = surfaces_to_evaluate(p, cfg)
    current: Bundle | None = None
    current_version = registry.current()
    if current_version is not None:
        try:
            current = bundle.load_bundle(current_version)
        except RegistryError as exc:
            log.warning("current model %s unusable (%s); gating against popularity only", current_version.version, exc)
    candidate = Bundle(ranker.export(model), emb, vocab, data.popular)
    with timer.stage("evaluation"):
        results = evaluate_models(data, cfg, candidate, current, surfaces)
    with timer.stage("faiss"):
        queries = emb.user_vecs[: cfg.faiss.recall_queries]
        index, ann_report = ann.build_tuned(emb.item_vecs, queries, cfg.faiss)
        items = unit_rows(emb.item_vecs)  # "Because you watched" / similar items: cosine, seeds are items
        similar_index, similar_report = ann.build_tuned(
            items, ann.sample_rows(items, cfg.faiss.recall_queries), cfg.faiss
        )
    with timer.stage("item_neighbours"):
        engaged = engagements(p.events, emb.item_ids)
        seqs = engaged.sequences()
        nb = item_neighbours(seqs, emb.item_ids, cfg.neighbours)
        nb_stats = {"pairs": len(nb.indices), "items_with_neighbours": int((np.diff(nb.indptr) > 0).sum())}
    ease, ease_stats = None, {}
    if cfg.ease.enabled:
        with timer.stage("ease_neighbours"):
            ease = ease_neighbours(seqs, emb.item_ids, cfg.ease)
        ease_stats = {"pairs": len(ease.indices), "items_with_neighbours": int((np.diff(ease.indptr) > 0).sum())}
    prior_stats: dict[str, Any] = {}
    choice = None
    if cfg.prior.enabled:
        with timer.stage("prior_weights"):
            choice = choose_prior(engaged, emb.item_ids, cfg.neighbours, cfg.ease, cfg.prior)
        prior_stats = choice.as_manifest() if choice is not None else {}
    learned, fusion_stats = None, {}
    if cfg.fusion.enabled:
        with timer.stage("fusion"):
            learned, fusion_stats = fit_fusion(p, cfg, engaged, emb.item_ids, choice)
    next_item = None
    if cfg.next_item.enabled:
        with timer.stage("next_item_model"):
            next_item = (train_next_item(seqs, len(emb.item_ids), cfg.next_item), cfg.next_item)
    next_item_stats = {"encoder": cfg.next_item.encoder, **next_item[0].fit_stats} if next_item else {}
    decision = gate(cfg, results, surfaces, min(ann_report.recall, similar_report.recall))
    window = {"t0": p.t0, "t1": p.t1, "t2": p.t2, "end": p.end, "events": p.n_events}
    # Features first: a version is published, and promoted, only once the batch features it was evaluated with
    # are in the online store, so serving, which reads item_batch when it loads a version, never pairs a new
    # model with yesterday's (or missing) features. A failure here leaves the registry untouched.
    features: dict[str, int] = {}
    with timer.stage("batch_features"):
        users = tr.user_batch_features(p.events, p.genres, p.end, state=p.ustate)
        cands = topk.top_k_frame(
            p.events, emb, data.popular, data.item_share, p.end, cfg.top_k.k, cfg.top_k.users_per_chunk
        )
        users = topk.attach(users, cands)
        items = tr.item_batch_features(p.events, p.catalog, p.end)
        features = feast_sink.publish(settings, users, items, p.end, materialize=cfg.materialize)
    with timer.stage("registry"), tempfile.TemporaryDirectory() as tmp:
        popular_counts = [(i, round(data.item_share[i] * 1e9)) for i in data.popular[:1000]]
        files = bundle.write_artifacts(
            Path(tmp),
            candidate,
            ranker.feature_schema(vocab, emb.rank, model),
            index,
            similar_index,
            popular_counts,
            nb,
            next_item,
            ease,
            learned,
        )
        manifest = {
            "data_window": {**window, "as_of": as_of.isoformat()},
            "feature_schema": json.loads(files[bundle.SCHEMA].read_text()),
            "metrics": {
                "holdout": results,
                "ann": ann_report.as_dict(),
                "ann_similar": similar_report.as_dict(),
                "train": train_stats,
                "neighbours": nb_stats,
                "ease_neighbours": ease_stats,
                "next_item": next_item_stats,
                "fusion": fusion_stats,
            },
            "gate": decision.as_dict(),
            "surfaces": surfaces,
            "prior": prior_stats,
            "batch_features": {"as_of_ms": p.end, "rows": features, "materialized": cfg.materialize},
            "config": json.loads(cfg.model_dump_json()),
        }
        version = registry.publish(files, manifest)
        if decision.passed:
            registry.promote(version.version, reason="; ".join(decision.reasons))
    for df in (p.events, p.ustate, p.istate, p.gstate, p.catalog, p.genres):
        df.unpersist()
    return RunReport(
        version.version,
        decision.passed,
        decision.as_dict(),
        results,
        ann_report.as_dict(),
        timer.stages,
        window,
        features,
        train_stats,
        compaction,
        swept.as_dict(),
        nb_stats,
        next_item_stats,
        ease_stats,
        prior_stats,
        fusion_stats,
        candidate,
        data,
    )
