"""The ranker's typed configuration: the shared :class:`Settings` plus a ``serving`` section, overridable like
every other field (``HYBRIDREC_SERVING__PORT=50052``, ``HYBRIDREC_SERVING__BUDGETS__RESERVE_MS=5``).

Every port, budget, limit and experiment knob of the ranker lives here; nothing in ``serving/`` holds a host,
port or path literal.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hybridrec.config import Settings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageBudgets(_Section):
    """How a call's deadline is shared between its stages (see ``serving/stages.py``): no fixed per-stage
    numbers; the feature read gets what the deadline leaves after the CPU stages this call still needs (their
    measured cost times the calls queued on the event loop), the CPU stages run while time is left."""

    reserve_ms: float = Field(10.0, ge=0, description="kept back for encoding the response and the network")
    features_max_ms: float = Field(
        500.0,
        gt=0,
        description="a feature read the event loop has watched this long (its idle time: time it spent on "
        "other calls' work does not count) without an answer counts as the store failing; the call's deadline "
        "still bounds the wait",
    )
    features_min_ms: float = Field(
        5.0,
        ge=0,
        description="a call that can afford less than this for its feature read skips it (no_time): a "
        "timeout that short says nothing about the store and must not open the breaker",
    )
    cpu_headroom: float = Field(1.5, ge=1.0, description="safety factor on the measured CPU cost still ahead")
    cpu_initial_ms: float = Field(3.0, ge=0, description="expected wall time per CPU stage before any is measured")


class Variant(_Section):
    """One A/B arm: users are hashed into arms by weight; an arm may override exploration and diversity."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    weight: float = Field(1.0, gt=0)
    exploration_rate: float | None = Field(None, ge=0.0, le=0.5)
    diversity: float | None = Field(None, ge=0.0, le=1.0)


class ServingConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 = any free port (tests)")
    metrics_port: int | None = Field(9464, ge=0, le=65535, description="Prometheus port; None = off")
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="server processes sharing the port (SO_REUSEPORT), one event loop each; 0 = "
        "one per core but one (left for Redis, the broker and the OS), at least 1",
    )
    default_deadline_ms: float = Field(250.0, gt=0, description="budget when the client sends no deadline")
    min_deadline_ms: float = Field(
        1.0,
        gt=0,
        description="a call with less of its deadline left (queued under overload, or sent with a "
        "shorter deadline) gets DEADLINE_EXCEEDED",
    )
    max_deadline_ms: float = Field(60_000.0, gt=0, description="longer deadlines are rejected")
    budgets: StageBudgets = StageBudgets()
    default_rows: int = Field(5, ge=1)
    max_rows: int = Field(10, ge=1)
    default_items_per_row: int = Field(20, ge=1)
    max_items_per_row: int = Field(50, ge=1)
    max_id_length: int = Field(128, ge=1)
    max_clock_skew_ms: int = Field(86_400_000, ge=0, description="context.time_ms further off is rejected")
    candidates_per_row: int = Field(60, ge=1, description="retrieved per row before filtering and ranking")
    session_weight: float = Field(0.5, ge=0.0, le=1.0, description="session vector share of the FOR_YOU query")
    i2i_seeds: int = Field(
        10,
        ge=0,
        description="FOR_YOU: newest engaged items whose co-occurrence neighbours join the candidates (0 = off)",
    )
    i2i_decay: float = Field(0.7, gt=0.0, le=1.0, description="weight of each older seed relative to the next newer")
    i2i_weight: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="FOR_YOU order: share of the item-to-item prior's rank against the ranker's (weighted "
        "reciprocal-rank fusion; 1 = the prior's order, the ranker's only for items without one). 1 since session 7: "
        "with the ensemble prior the replays measured +4-5 % over the co-occurrence prior at 0.7 (docs/evaluation.md)",
    )
    ease_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="FOR_YOU: weight of EASE's neighbours of everything the user engaged with in the item-to-item "
        "prior (min-max score fusion; the co-occurrence neighbours weigh 1 - ease - recent popularity; versions "
        "without ease_neighbours.npz leave it out; 0 = off). With i2i_weight 1 the replay measured +4 % on both "
        "MovieLens sets at history fraction 0.9 (docs/evaluation.md)",
    )
    recent_popularity_weight: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="FOR_YOU: weight of the items' recent popularity (the speed layer's popularity_recent, decayed "
        "to the stream's time) in the item-to-item prior (0 = off; chosen offline on validation cuts)",
    )
    prior_weights: Literal["version", "config"] = Field(
        "config",
        description="FOR_YOU's ease / recent-popularity weights: 'version' = those the nightly batch chose on a "
        "validation cut inside its window and published in the version's manifest (prior), ease_weight and "
        "recent_popularity_weight only for versions without them; 'config' = always these two",
    )
    next_item_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="FOR_YOU: share of the sequence model's next-item score in the item-to-item prior "
        "(min-max blend; 0 = co-occurrence only; versions without next_item.pt use co-occurrence only)",
    )
    fusion: bool = Field(
        True,
        description="FOR_YOU and 'Popular right now': re-rank the prior's best candidates with the version's learned "
        "fusion (fusion.npz, fit nightly on the window's next-item cases) when it carries one; false = the linear "
        "prior alone (docs/benchmarks.md, session 12)",
    )
    fusion_diversity: Literal["version"] | Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        "version",
        description="FOR_YOU with a learned fusion: weight of the genre-entropy gain against the fusion's confidence, "
        "over every slot after the version's first batch.fusion.diversity_head (those keep the fused order). "
        "'version': the weight the version's batch chose (the least that keeps the row's "
        "genre entropy at the popular row's on held-out cases; docs/benchmarks.md, session 13), else ``diversity``; "
        "the other re-ranked rows keep ``diversity`` and ``diversity_slots``",
    )
    fusion_guardrail_step: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="FOR_YOU with a learned fusion and fusion_diversity 'version': after each served row, the genre "
        "re-rank weight moves by this much per bit that the row's genre entropy fell short of (or exceeded) the "
        "moving average of the popular rows served to users with a history, starting from the version's weight, so "
        "the guardrail holds on average on the traffic served (serving/logic/guardrail.py; docs/benchmarks.md, "
        "session 15); 0 = the version's weight fixed",
    )
    fusion_guardrail_margin_bits: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="how many bits above the served popular rows' moving average the guardrail aims FOR_YOU's genre "
        "entropy: it holds its own average gap at this margin, so the promise (at least the popular row's entropy) "
        "survives the small difference between its moving average and a replay's comparison on the same targets "
        "(−0.002 … +0.04 bits over seven replays, docs/benchmarks.md session 16)",
    )
    exploration_rate: float = Field(0.07, ge=0.0, le=0.5, description="share of slots given to exploration")
    exploration_first_slot: int = Field(
        4,
        ge=1,
        description="first slot of a row (1-based) that may explore; the slots before it show the ranked top, "
        "the later ones explore more often so the row's share stays exploration_rate",
    )
    rerank_pool: int = Field(3, ge=1, description="diversity re-ranks the top rerank_pool × items_per_row by score")
    diversity_slots: int = Field(
        8,
        ge=0,
        description="slots per row picked greedily for genre entropy (the first screen: a TV row shows "
        "5–7 tiles); later slots follow in score order. The greedy loop costs per slot, so this bounds its CPU",
    )
    diversity_rows: tuple[str, ...] = Field(
        ("for_you", "because_you_watched"),
        description="row kinds re-ranked for genre entropy: the personalised ones, where filter bubbles form "
        "(a genre row is one genre by design; trending/popular are not personal). It is the "
        "costliest CPU step, so it runs only where it matters",
    )
    diversity: float = Field(0.3, ge=0.0, le=1.0, description="weight of the genre-entropy gain when re-ranking")
    variants: tuple[Variant, ...] = (Variant(name="control"),)
    ab_salt: str = Field("hybridrec-ab-1", min_length=1, description="change to re-randomise assignment")
    registry_poll_s: float = Field(2.0, gt=0, description="how often the registry pointer is checked")
    trending_refresh_s: float = Field(5.0, gt=0, description="how often trending_1h of the catalog is re-read")
    catalog_refresh_s: float = Field(300.0, gt=0, description="how often the compacted catalog topic is re-read")
    trending_max_age_ms: int = Field(
        2 * 3_600_000,
        ge=0,
        description="trending windows that ended this long before the newest one the speed "
        "layer wrote (the stream's time, not the wall clock) are ignored",
    )
    breaker_failures: int = Field(5, ge=1, description="consecutive feature-read failures that open the breaker")
    breaker_open_s: float = Field(1.0, gt=0, description="how long reads are skipped before one probe")
    grace_s: float = Field(5.0, ge=0, description="graceful-stop grace for in-flight calls")
    row_surfaces: dict[str, str] = Field(
        default_factory=lambda: {
            "for_you": "homepage/top_picks",
            "because_you_watched": "homepage/because_you_watched",
            "trending": "homepage/trending_now",
            "top_genre": "homepage/top_picks",
            "popular": "homepage/trending_now",
            "similar": "detail/more_like_this",
        },
        description="surface (model vocabulary, and the surface clients log) of each row kind",
    )
    feature_backend: str = Field("redis", pattern="^(redis|feast)$", description="per-request user feature read")
    log_impressions: bool = True

    @model_validator(mode="after")
    def _check(self) -> ServingConfig:
        if self.default_rows > self.max_rows or self.default_items_per_row > self.max_items_per_row:
            raise ValueError("default_rows/default_items_per_row must not exceed max_rows/max_items_per_row")
        if not self.min_deadline_ms <= self.default_deadline_ms <= self.max_deadline_ms:
            raise ValueError("default_deadline_ms must lie within [min_deadline_ms, max_deadline_ms]")
        if self.workers > 1 and self.port == 0:  # (automatic workers fall back to 1 on port 0)
            raise ValueError("workers > 1 needs a fixed port (they share it with SO_REUSEPORT)")
        if self.ease_weight + self.recent_popularity_weight > 1.0:
            raise ValueError("ease_weight + recent_popularity_weight must not exceed 1 (co-occurrence takes the rest)")
        names = [v.name for v in self.variants]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"variants need distinct names, got {names}")
        return self

    @property
    def worker_count(self) -> int:
        """``workers``, or cores − 1 (at least 1) when it is 0; a single process on an ephemeral port. Cores are
        the ones this process may run on (its CPU affinity: a container's cpuset, ``taskset``), not the host's."""
        if self.workers:
            return self.workers
        return 1 if self.port == 0 else max(1, usable_cores() - 1)


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask where the platform has one, else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ServingSettings(Settings):
    serving: ServingConfig = ServingConfig()


@lru_cache(maxsize=1)
def get_serving_settings() -> ServingSettings:
    """Settings of this process, validated once at start-up."""
    return ServingSettings()
