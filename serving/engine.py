"""One request through the ranking pipeline: features (one Redis round trip) → candidates → scoring (one torch
batch) → assembly. The stages run under :class:`serving.stages.StageRunner` (budgets from the deadline and
the load, degradation flags, breaker); what each does is in ``logic/candidates.py``, ``scoring.py`` and
``logic/assembly.py``; "Trending now" is ``trending.py``. A stage that is late or whose dependency is down is
skipped with a ``degraded`` flag and the page is built from what is there, down to popularity; dependency
failures never become errors.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Protocol

import numpy as np

from hybridrec import fresh_features
from serving.catalog import Catalog
from serving.config import ServingConfig, Variant
from serving.domain import Context, HomepageQuery, Page, Row, RowKind, SimilarQuery, Slot
from serving.features.base import FeatureReader, UserFeatures
from serving.logic import ab, prior
from serving.logic.assembly import Policy, assemble, genres_of
from serving.logic.candidates import Cands, fallback_cands, likely_shown, list_cands, personal_cands
from serving.logic.filters import seen_set
from serving.logic.guardrail import EntropyGuardrail, entropy_of
from serving.logic.rows import RowPlan
from serving.metrics import Metrics
from serving.model import inputs as mi
from serving.model.bundle import LoadedModel
from serving.scoring import score_rows
from serving.sink.base import ImpressionSink
from serving.stages import Budget, StageRunner
from serving.trending import Trend, build

log = logging.getLogger("hybridrec.serving")


class ModelSource(Protocol):
    @property
    def current(self) -> LoadedModel | None: ...


class Engine:
    def __init__(
        self,
        cfg: ServingConfig,
        models: ModelSource,
        features: FeatureReader,
        sink: ImpressionSink,
        metrics: Metrics,
        catalog: Catalog | None = None,
        trend: Trend | None = None,
    ) -> None:
        self.cfg, self.models, self.features, self.sink, self.metrics = cfg, models, features, sink, metrics
        self.catalog = catalog or Catalog()
        self.trend = trend or Trend()
        self.stages = StageRunner(cfg, metrics)
        self._trending_ids_cache: tuple[tuple[int, str], list[str]] | None = None
        self._guard: EntropyGuardrail | None = None

    def close(self) -> None:
        return None

    async def homepage(self, q: HomepageQuery) -> Page:
        self.stages.in_flight += 1
        try:
            return await self._homepage(q)
        finally:
            self.stages.in_flight -= 1

    async def _homepage(self, q: HomepageQuery) -> Page:
        cfg, st = self.cfg, self.stages
        budget = Budget(q.deadline_s, cfg.budgets.reserve_ms / 1000.0)
        variant = ab.assign(q.user_id or q.request_id, cfg.variants, cfg.ab_salt)
        self.metrics.child(self.metrics.variant, "variant", variant.name).inc()
        model, degraded, stage_ms = self.models.current, [], {}
        if model is None:
            st.degrade(degraded, "model:unavailable")
        elif not model.item_features_loaded:
            degraded.append("item_features:missing")
        user = None
        if q.personalized and q.user_id:
            user = await st.features(budget, lambda: self.features.read_user(q.user_id), degraded, stage_ms)
        user_vec = model.user_vec(q.user_id) if model is not None and q.personalized else None
        seen = seen_set(user)
        got = None
        if model is not None:
            build = lambda: self._candidates(q, model, user, user_vec, seen)  # noqa: E731
            got = st.cpu("candidates", budget, build, degraded, stage_ms)[0]
        cands, inputs = got if got is not None else (self._fallback(model, q.n_rows, q.only, seen), None)
        for c in cands:
            self.metrics.child(self.metrics.candidates, "row", c.plan.kind.value).observe(len(c.items))
        rescore = None
        if model is not None and inputs is not None and q.personalized and (user is not None or user_vec is not None):
            user_t = model.user_tensors(inputs)

            def rescore(rows: list[Cands]) -> None:
                score_rows(
                    model, user_t, rows, q.context.device, lambda kind: self._surface(model, kind), cfg.i2i_weight
                )

            if not st.cpu("scoring", budget, lambda: rescore(likely_shown(cands, q.n_rows)), degraded, stage_ms)[1]:
                rescore = None
        t0 = time.perf_counter()
        learned = model.fusion if model is not None else None
        chosen, head = (learned.diversity, learned.diversity_head) if learned is not None else (None, 0)
        guard = self._guardrail(model, chosen, variant)
        weight = guard.weight if guard is not None else chosen
        policy, rng = Policy.of(cfg, variant, q.items_per_row, weight, head), random.Random(q.request_id)
        rows = assemble(
            cands,
            seen,
            q.n_rows,
            policy,
            model,
            self.catalog.genres,
            rng,
            (lambda c: rescore([c])) if rescore is not None else None,
        )
        if not rows and q.only is not None:  # GetRow of a type this user cannot have (e.g. no history yet)
            degraded.append(f"row:{q.only.value}_unavailable")
            rows = assemble(
                self._fallback(model, 1, RowKind.POPULAR, seen),
                seen,
                1,
                policy,
                model,
                self.catalog.genres,
                random.Random(q.request_id),
            )
        if guard is not None and model is not None:
            self._keep_guardrail(guard, model, cands, rows, seen)
        st.observe("assemble", time.perf_counter() - t0, stage_ms)
        if (
            q.personalized
            and user is None
            and user_vec is None
            and "features" in stage_ms
            and not any(d.startswith("features:") for d in degraded)
        ):
            degraded.append("user:cold_start")  # not a failure: tells the client these are cold-start rows
        page = Page(
            q.request_id,
            rows,
            model.version if model is not None else "",
            variant.name,
            degraded,
            q.personalized,
            user_id=q.user_id,
            stage_ms=stage_ms,
        )
        self.metrics.child(
            self.metrics.pages, "outcome", "degraded" if set(degraded) - {"user:cold_start"} else "full"
        ).inc()
        if cfg.log_impressions:
            self.sink.publish(page, q.context)
        return page

    def _candidates(
        self,
        q: HomepageQuery,
        model: LoadedModel,
        user: UserFeatures | None,
        user_vec: np.ndarray | None,
        seen: np.ndarray,
    ) -> tuple[list[Cands], dict[str, np.ndarray]]:
        """Every planned row's candidates and the user's model inputs (built once, used by scoring too)."""
        cfg = self.cfg
        vec = user_vec if user_vec is not None else np.zeros(model.rank, np.float32)
        inputs = mi.user_side(user, vec, model.item_vecs_of, q.context.time_ms, fresh_features.session_gap_ms())
        cands = personal_cands(
            model,
            user,
            user_vec,
            inputs,
            self.trend,
            self.catalog.title,
            personalized=q.personalized,
            n_rows=q.n_rows,
            only=q.only,
            n=cfg.candidates_per_row,
            session_weight=cfg.session_weight,
            i2i_seeds=cfg.i2i_seeds,
            i2i_decay=cfg.i2i_decay,
            i2i_weight=cfg.i2i_weight,
            weights=prior.weights(
                (cfg.ease_weight, cfg.recent_popularity_weight),
                model.prior_weights if cfg.prior_weights == "version" else None,
                cfg.next_item_weight,
            ),
            seen_hashes=seen,
            fused_at_ms=q.context.time_ms if cfg.fusion else None,
        )
        return cands, inputs

    def _guardrail(self, model: LoadedModel | None, chosen: float | None, variant: Variant) -> EntropyGuardrail | None:
        """The fused FOR_YOU's guardrail of the model being served (:mod:`serving.logic.guardrail`), started at the
        version's weight; None when the weight is not the version's to move (a fixed one in the config or the
        request's A/B variant, no learned fusion, a step of 0)."""
        cfg = self.cfg
        if (
            model is None
            or model.fusion is None
            or cfg.fusion_guardrail_step <= 0
            or cfg.fusion_diversity != "version"
            or variant.diversity is not None
        ):
            return None
        if self._guard is None or self._guard.version != model.version:
            start = chosen if chosen is not None else cfg.diversity
            self._guard = EntropyGuardrail(
                model.version, start, cfg.fusion_guardrail_step, cfg.fusion_guardrail_margin_bits
            )
            self.metrics.for_you_diversity_weight.set(start)
        return self._guard

    def _keep_guardrail(
        self, guard: EntropyGuardrail, model: LoadedModel, cands: list[Cands], rows: list[Row], seen: np.ndarray
    ) -> None:
        """Feed the guardrail the page's served rows: a popular row shown to a user with a history (whose FOR_YOU
        would be fused) moves its average, a fused FOR_YOU row moves the weight."""
        fused = any(c.plan.kind is RowKind.FOR_YOU and c.confidence is not None for c in cands)
        counted = {RowKind.POPULAR: len(seen) > 0, RowKind.FOR_YOU: fused}
        for row in rows:
            if not row.items or not counted.get(row.kind, False):
                continue
            ids = [s.item_id for s in row.items]
            bits = entropy_of(genres_of(model, self.catalog.genres, ids, row.positions))
            if row.kind is RowKind.POPULAR:
                guard.saw_popular(bits)
                self.metrics.popular_entropy.set(guard.popular_bits or 0.0)
            elif guard.popular_bits is not None:
                self.metrics.for_you_entropy_gap.observe(bits - guard.popular_bits)
                self.metrics.for_you_diversity_weight.set(guard.saw_fused(bits))

    def _fallback(self, model: LoadedModel | None, n_rows: int, only: RowKind | None, seen: np.ndarray) -> list[Cands]:
        return fallback_cands(model, self.trend, self.catalog.title, n_rows, only, self.cfg.candidates_per_row, seen)

    def _surface(self, model: LoadedModel, kind: str) -> int:
        return model.surfaces.get(self.cfg.row_surfaces.get(kind, ""), 0)

    async def similar(self, q: SimilarQuery, context: Context | None = None) -> tuple[str, list[Slot], list[str]]:
        budget = Budget(q.deadline_s, self.cfg.budgets.reserve_ms / 1000.0)
        model = self.models.current
        degraded: list[str] = []
        stage_ms: dict[str, float] = {}
        items: list[tuple[str, float]] = []
        if model is None:
            degraded.append("model:unavailable")
        elif q.item_id not in model.item_pos:
            degraded.append("item:not_in_model")
        else:
            seed = model.item_pos[q.item_id]

            def work() -> list[tuple[str, float]]:
                s, p = model.similar([seed], q.n_items + 1)
                return [
                    (model.item_ids[j], float(v))
                    for v, j in zip(s[0], p[0], strict=True)
                    if j >= 0 and model.item_ids[j] != q.item_id
                ]

            items = self.stages.cpu("candidates", budget, work, degraded, stage_ms)[0] or []
        if not items:  # fall back to popularity
            c = Cands(RowPlan(RowKind.POPULAR, "popular", "", ""), [], [])
            list_cands(c, model, self.trend, self.cfg.candidates_per_row)
            items = [(i, s) for i, s in zip(c.items, c.base, strict=True) if i != q.item_id]
        name = self.catalog.title(q.item_id)
        reason = f"similar to {name}" if not degraded else "popular right now"
        version = model.version if model is not None else ""
        slots = [Slot(i, s, reason) for i, s in items[: q.n_items]]
        if self.cfg.log_impressions:
            row = Row(f"similar:{q.item_id}", RowKind.SIMILAR, f"More like {name}", reason, slots)
            self.sink.publish(
                Page(q.request_id, [row], version, "", degraded, False, stage_ms=stage_ms),
                context or Context("", "", int(time.time() * 1000)),
            )
        return version, slots, degraded

    def _trending_ids(self, model: LoadedModel | None) -> list[str]:
        """The model's items and the catalog's items it does not know yet (released since its training: a new
        release can trend before the nightly run has seen it); rebuilt only when either changes."""
        key = (self.catalog.generation, model.version if model is not None else "")
        cached = self._trending_ids_cache
        if cached is None or cached[0] != key:
            catalog = sorted(self.catalog.titles)
            ids = catalog if model is None else [*model.item_ids, *(i for i in catalog if i not in model.item_pos)]
            cached = self._trending_ids_cache = (key, ids)
        return cached[1]

    def _recent_half_life_ms(self, model: LoadedModel | None) -> int:
        """The half-life FOR_YOU's recent popularity is read at: the version's choice (``prior_weights``
        'version'), else the speed layer's default one."""
        chosen = model.recent_half_life_ms if model is not None and self.cfg.prior_weights == "version" else None
        return chosen or fresh_features.recent_popularity_half_life_ms()

    async def refresh_trending(self) -> bool:
        """Re-read ``item_fresh`` of the model's and the catalog's items and rebuild the lists (aged by the
        stream's time, see ``trending.py``); keep the old lists on failure."""
        model = self.models.current
        ids = self._trending_ids(model)
        if not ids:
            return False
        try:
            got = await self.features.read_trending(ids)
        except Exception as exc:
            log.warning("trending refresh failed: %s", exc)
            return False
        self.trend = build(
            got,
            max_age_ms=self.cfg.trending_max_age_ms,
            item_pos=model.item_pos if model is not None else None,
            version=model.version if model is not None else "",
            catalog_genres=self.catalog.genres,
            half_life_ms=fresh_features.popularity_half_life_ms(),
            recent_half_life_ms=self._recent_half_life_ms(model),
        )
        if model is not None and self.cfg.fusion:
            self.trend.cold_order = prior.cold_order(model, self.trend)
        return True
