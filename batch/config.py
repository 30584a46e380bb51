"""Typed configuration of the nightly batch layer, on top of the shared :class:`hybridrec.config.Settings`.

Precedence as for the shared settings: defaults here < the ``[batch]`` table of the TOML file named by
``HYBRIDREC_BATCH_CONFIG`` < environment variables ``HYBRIDREC_BATCH__<FIELD>`` (nested with ``__``).
Kept apart from the shared ``Settings`` so the batch deployable can evolve its knobs without touching the
shared package; the shared settings still hold every host, port and base path.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hybridrec.config import Settings, get_settings
from hybridrec.fresh_features import ENGAGEMENT
from hybridrec.sequence import SequenceConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Section):
    """Where and how the Spark session runs; a standalone master is ``spark://host:7077``."""

    master: str = "local[2]"
    app_name: str = "hybridrec-batch"
    shuffle_partitions: int = Field(8, ge=1)
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    ui_enabled: bool = False
    cluster_host: str = "127.0.0.1"
    cluster_port: int = Field(7077, ge=1, le=65535)
    cluster_webui_port: int = Field(8090, ge=1, le=65535)
    worker_cores: int = Field(2, ge=1)
    worker_memory: str = "3g"
    extra: dict[str, str] = Field(default_factory=dict, description="any other spark.* settings")


class WindowConfig(_Section):
    """Which part of the archive a run reads and how it is split in time.

    The run keeps events of the ``window_days`` days ending with the ``as_of`` date (UTC, inclusive) and also
    reads ``late_days`` of partitions after it, because a late event may have been filed under its arrival
    hour; events filed under their own (old) hour are picked up because each run re-reads the whole window.
    The last ``holdout_fraction`` of the window's time is the temporal test set; of the time before it, the
    last ``label_fraction`` provides the ranker's labelled examples and the rest the embeddings they use.
    """

    window_days: int = Field(90, ge=1)
    late_days: int = Field(1, ge=0)
    holdout_fraction: float = Field(0.1, gt=0, lt=0.5)
    label_fraction: float = Field(0.2, gt=0, lt=0.8)


class AlsConfig(_Section):
    """Spark ML ALS with implicit feedback; confidence = 1 + alpha * summed event weight."""

    rank: int = Field(32, ge=2)
    reg: float = Field(0.05, ge=0)
    iters: int = Field(10, ge=1)
    alpha: float = Field(10.0, gt=0)
    blocks: int = Field(4, ge=1, description="user and item blocks; few on a small cluster, or tasks dominate")
    seed: int = 7
    event_weights: dict[str, float] = {
        "PLAY": 1.0,
        "CLICK": 0.5,
        "RATING": 1.0,
        "ADD_TO_LIST": 1.0,
        "THUMBS": 0.5,
        "IMPRESSION": 0.0,
    }


class RankerConfig(_Section):
    """The consolidated multi-task ranker: shared MLP backbone, one head per task."""

    hidden: tuple[int, ...] = (64, 32)
    context_dim: int = Field(4, ge=1)
    epochs: int = Field(6, ge=1)
    batch_size: int = Field(512, ge=8)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    negatives_per_positive: int = Field(4, ge=1)
    popularity_negative_share: float = Field(0.0, ge=0, lt=1, description="rest of the draws are uniform")
    impression_negatives: bool = Field(True, description="impressions never followed by engagement")
    satisfaction_weight: float = Field(0.5, ge=0)
    recent_window_s: int = Field(86_400, ge=1)
    candidates: int = Field(200, ge=1)
    max_examples: int = Field(400_000, ge=100)
    threads: int = Field(1, ge=1, description="torch threads; 2 were 8-15x slower on 2 shared cores (OpenMP spin-wait)")
    seed: int = 11


class EvalConfig(_Section):
    """Offline evaluation on the newest validation window, as a next-item replay (``hybridrec.nextitem``)."""

    k_values: tuple[int, ...] = (10, 50)
    max_users: int = Field(5000, ge=1, description="users of the window evaluated (a stable sample)")
    max_targets_per_user: int = Field(10, ge=1, description="first N next-item cases of each user")
    max_cases: int = Field(20_000, ge=1, description="cases scored in all (each is a ranker batch of candidates)")
    min_relevance_rating: float = Field(0.0, ge=0, description="ratings below this are not cases")
    positive_event_types: tuple[str, ...] = ENGAGEMENT


class GateConfig(_Section):
    """Promotion rule for one surface: beat popularity by ``min_lift_over_popularity`` and the current model within
    ``tolerance`` (both on ``metric``; lift relative, tolerance absolute)."""

    metric: str = "ndcg@10"
    min_lift_over_popularity: float = Field(0.0, ge=-1)
    tolerance: float = Field(0.01, ge=0)


class FaissConfig(_Section):
    """Exact inner-product search below ``exact_max_items`` items, otherwise a refined IVF-PQ (or HNSW, or
    IVF-Flat). Defaults from ``benchmarks/faiss_ann.py`` at 1M clustered items, d=32 (docs/batch.md): IVF-PQ
    (sqrt(n)/4 lists, 4-bit fast-scan residual codes) visiting 64 lists and re-ranking 16 × k candidates
    exactly reached recall@100 0.96 at 22× exact search; HNSW (M 16, efConstruction 64) levelled off at 0.93
    and IVF-Flat needed ~4× exact for 0.95. The search knobs start here and are doubled (``efSearch``;
    ``nprobe``; IVF-PQ ``nprobe`` or ``k_factor``) until the recall measured on the run's own user vectors
    reaches ``min_recall``."""

    exact_max_items: int = Field(50_000, ge=1)
    approximate: Literal["ivf", "hnsw", "ivfpq"] = "ivfpq"
    nlist: int | None = Field(None, ge=1, description="IVF lists; default 4*sqrt(n)")
    nprobe: int = Field(32, ge=1)
    ivf_train_per_list: int = Field(64, ge=30, description="k-means sample: this many vectors per list")
    ivfpq_nlist: int | None = Field(None, ge=1, description="IVF-PQ lists; default sqrt(n)/4")
    ivfpq_nprobe: int = Field(64, ge=1, description="IVF-PQ lists visited (start)")
    ivfpq_train_per_list: int = Field(1024, ge=30, description="IVF-PQ k-means and codebook sample per list")
    refine_k_factor: float = Field(16.0, ge=1, description="IVF-PQ: exactly re-ranked candidates per k (start)")
    hnsw_m: int = Field(16, ge=4)
    hnsw_ef_search: int = Field(512, ge=1)
    hnsw_ef_construction: int = Field(64, ge=8)
    recall_k: int = Field(100, ge=1)
    recall_queries: int = Field(1000, ge=1)
    min_recall: float = Field(0.95, ge=0, le=1, description="ANN recall@recall_k gate (issue 5's goal)")


class TopKConfig(_Section):
    """Precomputed candidates in the ``user_batch`` view (``top_k_items``/``top_k_scores``): the user's
    best ``k`` unseen items by ALS score, scored ``users_per_chunk`` users at a time."""

    k: int = Field(100, ge=1)
    users_per_chunk: int = Field(256, ge=1)


class NeighboursConfig(_Section):
    """Item-to-item co-occurrence neighbours published with each version (``hybridrec.neighbours``): pairs at
    most ``window`` positions apart in a user's engagement sequence; the best ``k`` kept per item. The window is
    the one the replay's item-to-item baseline chose on its validation cut on both MovieLens sets."""

    window: int = Field(100, ge=1)
    k: int = Field(100, ge=1, description="neighbours kept per item (serving sums the lists of a few seeds)")


class EaseConfig(_Section):
    """EASE's item-item weights published with each version as neighbour lists (``hybridrec.neighbours.ease``,
    ``ease_neighbours.npz``) beside the co-occurrence ones: serving sums the lists of everything the user engaged
    with into one part of FOR_YOU's prior. λ: the offline ensemble of the served parts (benchmarks/ensemble_quality.py
    --served, docs/benchmarks.md) measured the same within 0.0005 NDCG@10 for λ 100–800 on ML-100K and chose 100 on
    ml-latest-small's validation cut (6,400 alone was best on ML-100K's but worse in the ensemble)."""

    enabled: bool = True
    lam: float = Field(200.0, gt=0, description="L2 regularisation λ of the closed form")
    k: int = Field(100, ge=1, description="largest positive weights kept per item")
    max_items: int = Field(
        10_000,
        ge=2,
        description="most engaged items in the model (the inverse is cubic in them and needs three dense "
        "matrices of that side: 10,000 items ≈ 2 GB of driver memory)",
    )


class PriorConfig(_Section):
    """FOR_YOU's prior weights chosen per version (``hybridrec.prior_choice``): both neighbour lists are fit again
    on the window's first part and the weightings below scored by NDCG@10 on its last part; the best goes into
    the version's manifest (``prior``), which serving applies unless told to use its own weights. The recent
    popularity's half-life is chosen with them among those the speed layer keeps the count at
    (``fresh_features.recent_popularity_values``: a stored decayed count cannot be re-decayed)."""

    enabled: bool = True
    weights: tuple[tuple[float, float], ...] = Field(
        tuple((e, r) for e in (0.0, 0.15, 0.3, 0.45) for r in (0.0, 0.1, 0.2, 0.3)),
        description="(EASE, recent popularity) weights tried; co-occurrence takes the rest of 1",
    )
    validation_fraction: float = Field(0.1, gt=0, lt=0.5, description="last share of the engagements replayed")
    max_targets_per_user: int = Field(50, ge=1, description="first N next-item targets of each user (the replay's)")
    max_targets: int = Field(5_000, ge=1, description="targets scored in all (thinned evenly): bounds the cost")
    seeds: int = Field(10, ge=1, description="newest engagements the co-occurrence lists are read from (serving's)")
    decay: float = Field(0.7, gt=0, le=1, description="weight of each older seed (serving's i2i_decay)")

    @model_validator(mode="after")
    def _check(self) -> PriorConfig:
        if not self.weights or any(e < 0 or r < 0 or e + r > 1 for e, r in self.weights):
            raise ValueError("prior.weights: each (EASE, recent popularity) pair must be >= 0 and sum to at most 1")
        return self


class FusionConfig(_Section):
    """FOR_YOU's learned fusion published with each version (``hybridrec.fusion``, ``fusion.npz``): a small MLP
    re-ranks the prior's best ``candidates`` items of a request from each part's score and rank, the recent
    popularity at three half-lives, item and user recency and genre overlap. Fit listwise on next-item targets
    after cuts inside the window (the last ``validation_fractions`` of its engagements; the lists fit on what is
    before each cut), one scorer per seed, their scores averaged. Published only when it beats the prior's order on
    the held-out users of its cases. Offline it gave +6.6 % / +17 % NDCG@10 over the prior on ML-100K /
    ml-latest-small (docs/benchmarks.md, session 11)."""

    enabled: bool = True
    validation_fractions: tuple[float, ...] = Field((0.1, 0.2), description="last shares of the engagements cut")
    max_targets: int = Field(10_000, ge=1, description="targets per cut (thinned evenly): bounds the cost")
    candidates: int = Field(100, ge=2, description="the prior's best items re-ranked per request")
    hidden: int = Field(32, ge=0, description="hidden units (0: a linear scorer)")
    epochs: int = Field(40, ge=1)
    seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1, description="one scorer per seed, scores averaged")
    threads: int = Field(1, ge=1, description="torch threads while fitting")
    temperature: float = Field(
        0.5,
        gt=0.0,
        description="of the softmax over a request's fused scores that FOR_YOU's genre re-rank weighs against "
        "entropy (published with the version; lower: only the fusion's surest items hold their place)",
    )
    diversity_weights: tuple[float, ...] = Field(
        (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        min_length=1,
        description="the re-rank weights tried on held-out cases: the least whose rows' genre entropy reaches the "
        "popular rows' (plus diversity_margin) is published (the largest when none does); serving starts from it and "
        "moves it on the rows it serves (serving.fusion_guardrail_step)",
    )
    diversity_margin: float = Field(
        0.0,
        ge=0.0,
        description="bits the held-out rows' genre entropy must exceed the popular rows' by: what the served row "
        "loses to what the choice does not model (exploration's slots, a later period)",
    )
    diversity_head: int = Field(
        3,
        ge=0,
        description="FOR_YOU's first slots that keep the fusion's order (published with the version): the genre "
        "re-rank trades from the next slot on, as exploration does (serving.exploration_first_slot 4); offline 0-3.6 % "
        "more NDCG@10 than re-ranking every slot at the same genre entropy, through the replays -0.9 to +1.6 % "
        "(docs/benchmarks.md, session 14)",
    )


class NextItemConfig(SequenceConfig):
    """The sequence-aware next-item model published with each version (``hybridrec.sequence``; serving scores
    FOR_YOU with it from the user's fresh engaged items). The defaults are the architecture the offline try chose
    on its validation cuts (benchmarks/sequence_quality.py, docs/benchmarks.md)."""

    enabled: bool = Field(
        False,
        description="train and publish next_item.pt, which serving then blends into FOR_YOU; off by default: "
        "the replay did not move with it (served NDCG@10 1.01x item-to-item on both datasets, as without it) "
        "and it costs ~1.8 ms of serving CPU per page (docs/benchmarks.md)",
    )
    threads: int = Field(1, ge=1, description="torch threads while training (1: see ranker.threads)")


class BatchConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HYBRIDREC_BATCH__", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    spark: SparkConfig = SparkConfig()
    window: WindowConfig = WindowConfig()
    als: AlsConfig = AlsConfig()
    ranker: RankerConfig = RankerConfig()
    eval: EvalConfig = EvalConfig()
    gates: dict[str, GateConfig] = {"*": GateConfig()}
    eval_surfaces: tuple[str, ...] = Field((), description="surfaces to evaluate/gate; () = most frequent")
    faiss: FaissConfig = FaissConfig()
    top_k: TopKConfig = TopKConfig()
    neighbours: NeighboursConfig = NeighboursConfig()
    ease: EaseConfig = EaseConfig()
    prior: PriorConfig = PriorConfig()
    fusion: FusionConfig = FusionConfig()
    next_item: NextItemConfig = NextItemConfig()
    compact_archive: bool = Field(
        True,
        description="first move the hourly archive files of days up to "
        "as_of - window.late_days into monthly files (batch.compact)",
    )
    materialize: bool = True

    @model_validator(mode="after")
    def _check(self) -> BatchConfig:
        for surface, gate in self.gates.items():
            name, _, k = gate.metric.partition("@")
            if name not in {"recall", "ndcg", "map"} or not k.isdigit() or int(k) not in self.eval.k_values:
                raise ValueError(
                    f"gate {surface!r}: metric {gate.metric!r} must be recall|ndcg|map@K with K in "
                    f"eval.k_values {self.eval.k_values}"
                )
        if "*" not in self.gates:
            raise ValueError("gates needs a '*' entry (the default for surfaces without their own gate)")
        return self

    def gate_for(self, surface: str) -> GateConfig:
        return self.gates.get(surface, self.gates["*"])


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_batch_config(path: Path | None = None, settings: Settings | None = None, **overrides: object) -> BatchConfig:
    """Batch config, lowest first: defaults < the ``[batch]`` section of the shared settings (the one config
    file of ``HYBRIDREC_CONFIG``) < the ``[batch]`` table of ``path`` / ``HYBRIDREC_BATCH_CONFIG`` < env
    ``HYBRIDREC_BATCH__*`` < ``overrides``. Without ``settings``, this process's (so a checkout's own config file
    gives its Spark ports; the test of the standalone cluster read the defaults, another checkout's ports)."""
    if settings is None:
        settings = get_settings()
    path = path or (Path(os.environ["HYBRIDREC_BATCH_CONFIG"]) if os.environ.get("HYBRIDREC_BATCH_CONFIG") else None)
    data: dict[str, Any] = dict(settings.batch)
    if path is not None:
        with open(path, "rb") as fh:
            data = _deep_merge(data, dict(tomllib.load(fh).get("batch", {})))
    env = BatchConfig()  # env vars only
    data = _deep_merge(data, env.model_dump(exclude_unset=True))
    return BatchConfig(**{**data, **overrides})
