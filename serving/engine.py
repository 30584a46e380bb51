"""The ranking pipeline of one request, as time-boxed stages over the client's deadline.

features (one Redis round trip) → candidates (FAISS, trending, genre and popularity lists) → scoring (one
torch batch) → assembly (filters, diversity, exploration, titles). Each stage gets the smaller of its own
budget and what is left of the deadline; a stage that is late or whose dependency is down is skipped with
a ``degraded`` flag, and the page is built from what is there, down to popularity. Dependency failures
never become errors; only the request itself can be wrong (validated before this).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from hybridrec import fresh_features
from hybridrec.contract import GENRES
from serving.breaker import Breaker
from serving.catalog import Catalog
from serving.config import ServingConfig
from serving.domain import Context, HomepageQuery, Page, Row, RowKind, SimilarQuery, Slot
from serving.features.base import FeatureReader, UserFeatures
from serving.logic import ab, diversity, exploration, filters
from serving.logic.candidates import blend_query, fuse, top_genres
from serving.logic.rows import RowPlan, plan_rows
from serving.metrics import Metrics
from serving.model import inputs as mi
from serving.model.bundle import LoadedModel
from serving.sink.base import ImpressionSink

log = logging.getLogger("hybridrec.serving")
T = TypeVar("T")


class ModelSource(Protocol):
    @property
    def current(self) -> LoadedModel | None: ...


@dataclass
class Trend:
    """Trending items, most first, refreshed in the background from ``item_fresh`` (speed layer).

    Without a model (fresh install, no batch run yet) it is read for the catalog's items and also carries the
    speed layer's decayed popularity, overall and per genre: the only honest popularity signal left.
    """

    items: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    pos: np.ndarray | None = None      # model positions of ``items``, computed at refresh for ``version``
    version: str = ""
    popular: list[str] = field(default_factory=list)         # by decayed popularity now, most first
    popular_scores: list[float] = field(default_factory=list)
    genre_popular: dict[int, list[str]] = field(default_factory=dict)   # genre axis position → ``popular`` order
    popular_genres: list[int] = field(default_factory=list)  # genres by the popularity of their items


@dataclass
class Cands:
    plan: RowPlan
    items: list[str]
    base: np.ndarray | list[float]     # retrieval score, used when the model cannot score
    scores: np.ndarray | None = None
    pos: np.ndarray | None = None      # model positions of ``items`` (-1: not in the model), when known


@dataclass
class _Kept:
    """One row after the filters: its candidates left, their scores and the best ``pool`` of them."""

    cand: Cands
    items: list[str]
    scores: np.ndarray
    pos: np.ndarray | None
    top: np.ndarray


class Budget:
    def __init__(self, deadline_s: float, reserve_s: float) -> None:
        self.start = time.perf_counter()
        self.end = self.start + deadline_s - reserve_s

    def left(self, cap_s: float) -> float:
        return min(cap_s, self.end - time.perf_counter())


class Engine:
    def __init__(self, cfg: ServingConfig, models: ModelSource, features: FeatureReader, sink: ImpressionSink,
                 metrics: Metrics, catalog: Catalog | None = None, trend: Trend | None = None) -> None:
        self.cfg = cfg
        self.models = models
        self.features = features
        self.sink = sink
        self.metrics = metrics
        self.catalog = catalog or Catalog()
        self.trend = trend or Trend()
        self._breaker = Breaker(cfg.breaker_failures, cfg.breaker_open_s)
        # Bound metric children: ``labels()`` costs a lock and a dict lookup per call, a dozen times a page.
        self._children: dict[tuple[int, str], Any] = {}
        self._trending_ids_cache: tuple[tuple[int, str], list[str]] | None = None

    def _child(self, metric: Any, label: str, value: str) -> Any:
        """``metric.labels(label=value)``, bound once per metric and value."""
        key = (id(metric), value)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**{label: value})
        return child

    def _observe_stage(self, name: str, seconds: float) -> None:
        self._child(self.metrics.stage, "stage", name).observe(seconds)

    def _degrade(self, degraded: list[str], reason: str) -> None:
        degraded.append(reason)
        self._child(self.metrics.degraded, "reason", reason).inc()

    def close(self) -> None:
        return None

    # --- stages --------------------------------------------------------------------------------------

    async def _stage(self, name: str, budget: Budget, cap_ms: float, work: Callable[[], Awaitable[T]],
                     degraded: list[str], stage_ms: dict[str, float]) -> tuple[T | None, bool]:
        timeout = budget.left(cap_ms / 1000.0)
        if timeout <= 0:
            self._degrade(degraded, f"{name}:no_time")
            return None, False
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # no extra task per call, unlike wait_for
                return await work(), True
        except TimeoutError:
            reason = f"{name}:timeout"
        except Exception as exc:
            log.debug("stage %s failed: %r", name, exc)
            reason = f"{name}:unavailable"
        finally:
            took = time.perf_counter() - t0
            stage_ms[name] = round(took * 1000, 3)
            self._observe_stage(name, took)
        self._degrade(degraded, reason)
        return None, False

    def _cpu_stage(self, name: str, budget: Budget, cap_ms: float, fn: Callable[[], T], degraded: list[str],
                   stage_ms: dict[str, float]) -> tuple[T | None, bool]:
        """A CPU stage (a few ms of numpy/faiss/torch) runs inline on the event loop, time-boxed *between*
        stages: skipped when no budget is left, flagged ``late`` when it overran so later stages shrink.

        Why not ``wait_for`` on a worker thread: a timed-out thread keeps burning the CPU the next requests
        need (under overload that snowballs), and GIL hand-offs between the loop and the worker cost up to
        the 5 ms switch interval each, which measured worse than the work itself on 2 shared cores.
        """
        cap_s = cap_ms / 1000.0
        if budget.left(cap_s) <= 0:
            self._degrade(degraded, f"{name}:no_time")
            return None, False
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception:
            log.exception("stage %s failed", name)
            self._degrade(degraded, f"{name}:unavailable")
            return None, False
        finally:
            took = time.perf_counter() - t0
            stage_ms[name] = round(took * 1000, 3)
            self._observe_stage(name, took)
        if took > cap_s:
            self._degrade(degraded, f"{name}:late")
        return result, True

    # --- homepage ------------------------------------------------------------------------------------

    async def homepage(self, q: HomepageQuery) -> Page:
        cfg = self.cfg
        budget = Budget(q.deadline_s, cfg.budgets.reserve_ms / 1000.0)
        variant = ab.assign(q.user_id or q.request_id, cfg.variants, cfg.ab_salt)
        self.metrics.variant.labels(variant=variant.name).inc()
        model = self.models.current
        degraded: list[str] = []
        stage_ms: dict[str, float] = {}
        if model is None:
            self._degrade(degraded, "model:unavailable")
        elif not model.item_features_loaded:
            degraded.append("item_features:missing")

        user: UserFeatures | None = None
        if q.personalized and q.user_id:
            if self._breaker.allow():
                before = len(degraded)
                user, ok = await self._stage("features", budget, cfg.budgets.features_ms,
                                             lambda: self.features.read_user(q.user_id), degraded, stage_ms)
                if ok:
                    self._breaker.success()
                elif degraded[before:] != ["features:no_time"]:  # the store failed, not our budget
                    self._breaker.failure()
            else:
                self._degrade(degraded, "features:circuit_open")
        user_vec = model.user_vec(q.user_id) if model is not None and q.personalized else None
        now_ms = q.context.time_ms

        def candidates() -> tuple[list[Cands], dict[str, np.ndarray] | None]:
            return self._candidates(q, model, user, user_vec, now_ms)

        got, ok = self._cpu_stage("candidates", budget, cfg.budgets.candidates_ms, candidates, degraded, stage_ms)
        if ok and got is not None:
            cands, user_inputs = got
        else:  # no time or broken: popularity / trending lists only, no retrieval
            cands, user_inputs = self._fallback_cands(q, model), None
        for c in cands:
            self._child(self.metrics.candidates, "row", c.plan.kind.value).observe(len(c.items))

        # Spare rows (planned beyond n_rows in case a row ends up empty) are scored only if assembly uses one.
        rescore: Callable[[Cands], None] | None = None
        if model is not None and user_inputs is not None:
            shown = self._likely_shown(cands, q.n_rows)

            def scoring() -> None:
                self._score(model, user_inputs, shown, q.context.device)

            _, scored = self._cpu_stage("scoring", budget, cfg.budgets.scoring_ms, scoring, degraded, stage_ms)
            if scored:
                def rescore(c: Cands) -> None:
                    self._score(model, user_inputs, [c], q.context.device)

        t0 = time.perf_counter()
        seen = set(user.recent_items) | set(user.hidden_items) if user is not None else set()
        rows = self._assemble(cands, seen, q.n_rows, q.items_per_row, variant.exploration_rate, variant.diversity,
                              model, random.Random(q.request_id), rescore)
        if not rows and q.only is not None:  # GetRow of a type this user cannot have (e.g. no history yet)
            degraded.append(f"row:{q.only.value}_unavailable")
            popular = replace(q, only=RowKind.POPULAR)
            rows = self._assemble(self._fallback_cands(popular, model), seen, 1, q.items_per_row,
                                  variant.exploration_rate, variant.diversity, model, random.Random(q.request_id))
        took = time.perf_counter() - t0
        stage_ms["assemble"] = round(took * 1000, 3)
        self._observe_stage("assemble", took)
        if q.personalized and user is None and user_vec is None and "features" in stage_ms and not any(
                d.startswith("features:") for d in degraded):
            degraded.append("user:cold_start")  # not a failure: tells the client these are cold-start rows
        page = Page(q.request_id, rows, model.version if model is not None else "", variant.name, degraded,
                    q.personalized, user_id=q.user_id, stage_ms=stage_ms)
        if self.cfg.log_impressions:
            self.sink.publish(page, q.context)
        return page

    def _candidates(self, q: HomepageQuery, model: LoadedModel | None, user: UserFeatures | None,
                    user_vec: np.ndarray | None, now_ms: int) -> tuple[list[Cands], dict[str, np.ndarray] | None]:
        cfg = self.cfg
        if model is None:
            return self._fallback_cands(q, None), None
        hidden = user.hidden_items if user is not None else frozenset()
        recent = [i for i in user.recent_items if i not in hidden] if user is not None else []
        top_k = [i for i in user.top_k_items[: cfg.candidates_per_row] if i not in hidden] if user is not None else []
        user_inputs = mi.user_side(user, user_vec if user_vec is not None else np.zeros(model.rank, np.float32),
                                   model.item_vecs_of, now_ms, fresh_features.session_gap_ms())
        session_vec = user_inputs["recent_vec"][0] if recent else None
        mine = top_genres(user_inputs["user_genres"][0], user_inputs["session_genres"][0],
                          None if user is None or user.taste_genres is None else np.asarray(user.taste_genres),
                          n=3) if q.personalized else []
        plans = plan_rows(personalized=q.personalized, has_profile=user_vec is not None or bool(top_k),
                          recent_items=recent,
                          user_genres=mine, popular_genres=model.popular_genres, genre_names=GENRES,
                          title_of=self.catalog.title, n_rows=q.n_rows, only=q.only,
                          can_seed=model.item_pos.__contains__)
        k = cfg.candidates_per_row + len(recent)
        queries: list[tuple[int, np.ndarray]] = []   # user → item (inner product)
        seeds: list[tuple[int, int]] = []            # item → item (cosine): row, seed position
        out: list[Cands] = []
        for_you = -1
        for r, plan in enumerate(plans):
            c = Cands(plan, [], [])
            out.append(c)
            if plan.kind is RowKind.FOR_YOU:
                for_you = r
                qv = blend_query(user_vec, session_vec, cfg.session_weight)
                if qv is not None:
                    queries.append((r, qv))
            elif plan.kind is RowKind.BECAUSE_YOU_WATCHED and plan.seed_item in model.item_pos:
                seeds.append((r, model.item_pos[plan.seed_item]))
            elif plan.kind is RowKind.TOP_GENRE and plan.genre is not None:
                self._genre_cands(c, model, plan.genre)
            else:
                self._list_cands(c, model)
        found: list[tuple[list[int], np.ndarray, np.ndarray]] = []
        if queries:
            found.append(([r for r, _ in queries], *model.search(np.stack([v for _, v in queries]), k)))
        if seeds:
            found.append(([r for r, _ in seeds], *model.similar([p for _, p in seeds], k)))
        ids = model.item_ids
        for rows, scores, pos in found:
            for r, srow, prow in zip(rows, scores, pos, strict=True):
                keep = prow >= 0
                out[r].pos = prow[keep].astype(np.int64)
                out[r].items = [ids[p] for p in out[r].pos.tolist()]
                out[r].base = srow[keep].astype(np.float64)
        if for_you >= 0 and top_k:  # the batch layer's precomputed candidates join the FAISS neighbours
            c = out[for_you]
            c.items, c.base = fuse(c.items, top_k)
            c.pos = np.fromiter((model.item_pos.get(i, -1) for i in c.items), np.int64, len(c.items))
        personal = q.personalized and (user is not None or user_vec is not None)
        return out, user_inputs if personal else None

    def _list_cands(self, c: Cands, model: LoadedModel | None) -> None:
        n = self.cfg.candidates_per_row
        trend = self.trend
        if c.plan.kind is RowKind.TRENDING and trend.items:
            c.items, c.base = trend.items[:n], [float(x) for x in trend.counts[:n]]
            if model is not None and trend.pos is not None and trend.version == model.version:
                c.pos = trend.pos[:n]
        elif model is not None and model.popular:
            c.items = model.popular[:n]
            c.base = [1.0 / (1 + k) for k in range(len(c.items))]
            c.pos = model.popular_pos[: len(c.items)]
        elif model is None and trend.popular:  # no model: the speed layer's decayed popularity
            c.items, c.base = trend.popular[:n], trend.popular_scores[:n]
        elif trend.items:  # no popularity at all: trending is the only signal left
            c.items, c.base = trend.items[:n], [float(x) for x in trend.counts[:n]]

    def _genre_cands(self, c: Cands, model: LoadedModel, genre: int) -> None:
        if not model.genre_items:
            return
        pos = np.asarray(model.genre_items[genre][: self.cfg.candidates_per_row], dtype=np.int64)
        c.pos, c.items = pos, [model.item_ids[p] for p in pos.tolist()]
        c.base = 1.0 / (1.0 + np.arange(len(pos), dtype=np.float64))

    def _fallback_cands(self, q: HomepageQuery, model: LoadedModel | None) -> list[Cands]:
        """Rows that need no retrieval: trending, then popularity per genre and overall."""
        genres = model.popular_genres if model is not None else self.trend.popular_genres
        plans = plan_rows(personalized=False, has_profile=False, recent_items=[], user_genres=[],
                          popular_genres=genres, genre_names=GENRES, title_of=self.catalog.title,
                          n_rows=q.n_rows, only=q.only if q.only and not q.only.profiling else None)
        out = []
        for plan in plans:
            c = Cands(plan, [], [])
            if plan.kind is RowKind.TOP_GENRE and model is not None and plan.genre is not None:
                self._genre_cands(c, model, plan.genre)
            elif plan.kind is RowKind.TOP_GENRE and plan.genre is not None:
                items = self.trend.genre_popular.get(plan.genre, [])[: self.cfg.candidates_per_row]
                c.items, c.base = items, [1.0 / (1 + k) for k in range(len(items))]
            else:
                self._list_cands(c, model)
            out.append(c)
        return out

    @staticmethod
    def _likely_shown(cands: list[Cands], n_rows: int) -> list[Cands]:
        """The first ``n_rows`` rows that have candidates: the ones assembly will use unless filtering empties one."""
        out = []
        for c in cands:
            if c.items:
                out.append(c)
                if len(out) == n_rows:
                    break
        return out

    def _surface(self, model: LoadedModel, kind: str) -> int:
        return model.surfaces.get(self.cfg.row_surfaces.get(kind, ""), 0)

    def _score(self, model: LoadedModel, user_inputs: dict[str, np.ndarray], cands: list[Cands],
               device: str) -> None:
        """Every (row, candidate) pair of the page in one batch; rows keep their retrieval order otherwise."""
        for c in cands:
            if c.pos is None:
                c.pos = np.fromiter((model.item_pos.get(i, -1) for i in c.items), np.int64, len(c.items))
        sizes = [len(c.items) for c in cands]
        if not sum(sizes):
            return
        pos = np.concatenate([c.pos for c in cands if c.pos is not None])
        surfaces = np.repeat([self._surface(model, c.plan.kind.value) for c in cands], sizes)
        known = pos >= 0
        if not known.any():
            return
        full = np.full(len(pos), -1.0)           # items the model does not know go last ...
        full[known] = model.score(user_inputs, pos[known], surfaces[known], device)
        at = 0
        for c, n in zip(cands, sizes, strict=True):
            c.scores = full[at:at + n]
            if c.plan.kind is RowKind.TRENDING:  # ... except in "Trending now", where the count put them
                _keep_trending_place(c.scores, known[at:at + n])
            at += n

    def _assemble(self, cands: list[Cands], seen: set[str], n_rows: int, per_row: int, explore_rate: float | None,
                  diversity_weight: float | None, model: LoadedModel | None, rng: random.Random,
                  rescore: Callable[[Cands], None] | None = None) -> list[Row]:
        """Rows in plan order: filters (seen, hidden, already on the page), ranking, exploration.

        Consecutive rows that get the genre-entropy re-rank are re-ranked together (one greedy loop for all of
        them, an earlier row winning a contested item), the others in score order, one after another. A row
        the scoring stage skipped (a spare) is scored here with ``rescore`` when assembly reaches it.
        """
        rate = self.cfg.exploration_rate if explore_rate is None else explore_rate
        div = self.cfg.diversity if diversity_weight is None else diversity_weight
        pool = self.cfg.rerank_pool * per_row
        used: set[str] = set()
        rows: list[Row] = []

        def ensure_scored(c: Cands) -> None:
            if rescore is not None and c.scores is None and c.items:
                rescore(c)

        i = 0
        while i < len(cands) and len(rows) < n_rows:
            ensure_scored(cands[i])
            j = i + 1
            if div > 0 and cands[i].plan.kind.value in self.cfg.diversity_rows:
                while j < len(cands) and j - i < n_rows - len(rows) and \
                        cands[j].plan.kind.value in self.cfg.diversity_rows:
                    ensure_scored(cands[j])
                    j += 1
                run = [self._filtered(c, seen, used, pool) for c in cands[i:j]]
                picks = diversity.rerank_rows([r.scores[r.top] for r in run],
                                              [self._genres(model, r.items, r.pos, r.top) for r in run],
                                              per_row, div, [[r.items[t] for t in r.top.tolist()] for r in run],
                                              slots=self.cfg.diversity_slots)
                orders = [[int(r.top[p]) for p in pk] for r, pk in zip(run, picks, strict=True)]
                taken = {r.items[k] for r, order in zip(run, orders, strict=True) for k in order}
            else:
                run = [self._filtered(cands[i], seen, used, pool)]
                orders = [run[0].top[:per_row].tolist()]
                taken = set()
            for r, order in zip(run, orders, strict=True):
                if not r.items or len(rows) >= n_rows:
                    continue
                mine = {r.items[k] for k in order}
                others = taken - mine
                explorable = range(len(r.items)) if not others else \
                    [k for k, item in enumerate(r.items) if item not in others]
                placed = exploration.explore(order, explorable, rate, rng)
                plan = r.cand.plan
                slots = [Slot(r.items[p.index], float(r.scores[p.index]),
                              "exploring something new" if p.explored else plan.reason, p.explored, p.propensity)
                         for p in placed]
                used.update(s.item_id for s in slots)
                rows.append(Row(plan.row_id, plan.kind, plan.title, plan.reason, slots))
            i = j
        return rows

    @staticmethod
    def _filtered(c: Cands, seen: set[str], used: set[str], pool: int) -> _Kept:
        kept = filters.keep(c.items, seen, used)
        raw = c.scores if c.scores is not None else np.asarray(c.base, dtype=np.float64)
        idx = np.asarray(kept, dtype=np.int64)
        scores = raw[idx] if len(idx) else np.zeros(0)
        # Diversity trades score for genre spread among the best few times per_row, not the whole tail.
        top = np.argsort(-scores, kind="stable")[:pool]
        return _Kept(c, [c.items[k] for k in kept], scores, None if c.pos is None else c.pos[idx], top)

    def _genres(self, model: LoadedModel | None, items: list[str], pos: np.ndarray | None = None,
                sel: np.ndarray | None = None) -> np.ndarray:
        """Genre vectors of ``items`` (or of ``items[sel]``): the model's matrix, the catalog for the rest."""
        if sel is not None:
            items = [items[k] for k in sel.tolist()]
            pos = None if pos is None else pos[sel]
        if model is not None and len(model.item_genres):
            if pos is None:
                pos = np.fromiter((model.item_pos.get(i, -1) for i in items), np.int64, len(items))
            g = model.item_genres[np.maximum(pos, 0)].copy() if len(pos) else np.zeros((0, len(GENRES)), np.float32)
            missing = np.flatnonzero(pos < 0).tolist()
        else:
            g = np.zeros((len(items), len(GENRES)), dtype=np.float32)
            missing = list(range(len(items)))
        for k in missing:
            g[k] = mi.genre_vector(self.catalog.genres[items[k]]) if items[k] in self.catalog.genres else 0.0
        return g

    # --- similar items -------------------------------------------------------------------------------

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
                return [(model.item_ids[j], float(v)) for v, j in zip(s[0], p[0], strict=True)
                        if j >= 0 and model.item_ids[j] != q.item_id]

            got, _ = self._cpu_stage("candidates", budget, self.cfg.budgets.candidates_ms, work, degraded, stage_ms)
            items = got or []
        if not items:  # fall back to popularity
            c = Cands(RowPlan(RowKind.POPULAR, "popular", "", ""), [], [])
            self._list_cands(c, model)
            items = [(i, s) for i, s in zip(c.items, c.base, strict=True) if i != q.item_id]
        name = self.catalog.title(q.item_id)
        reason = f"similar to {name}" if not degraded else "popular right now"
        version = model.version if model is not None else ""
        slots = [Slot(i, s, reason) for i, s in items[: q.n_items]]
        if self.cfg.log_impressions:
            row = Row(f"similar:{q.item_id}", RowKind.SIMILAR, f"More like {name}", reason, slots)
            self.sink.publish(Page(q.request_id, [row], version, "", degraded, False, stage_ms=stage_ms),
                              context or Context("", "", int(time.time() * 1000)))
        return version, slots, degraded

    # --- background ----------------------------------------------------------------------------------

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

    async def refresh_trending(self) -> bool:
        """Re-read ``item_fresh`` of the model's and the catalog's items (see :meth:`_trending_ids`); while no
        model was ever loaded, decayed popularity too, for popularity rows. Keep the old lists on failure."""
        model = self.models.current
        ids = self._trending_ids(model)
        if not ids:
            return False
        try:
            got = await self.features.read_trending(ids)
        except Exception as exc:
            log.warning("trending refresh failed: %s", exc)
            return False
        now = int(time.time() * 1000)
        fresh = [(i, t.count) for i, t in got.items()
                 if t.count > 0 and now - t.window_end_ms <= self.cfg.trending_max_age_ms]
        fresh.sort(key=lambda x: (-x[1], x[0]))
        items = [i for i, _ in fresh]
        if model is not None:
            pos = np.fromiter((model.item_pos.get(i, -1) for i in items), np.int64, len(items))
            self.trend = Trend(items, [c for _, c in fresh], pos, model.version)
            return True
        trend = Trend(items, [c for _, c in fresh])
        # Decayed to now with the speed layer's half-life, so items last seen at different times compare.
        half_life = fresh_features.popularity_half_life_ms()
        pop = [(i, t.decayed_popularity * 2.0 ** (-max(0, now - t.last_event_ms) / half_life))
               for i, t in got.items() if t.decayed_popularity > 0]
        pop.sort(key=lambda x: (-x[1], x[0]))
        trend.popular, trend.popular_scores = [i for i, _ in pop], [s for _, s in pop]
        mass = np.zeros(len(GENRES))
        for i, s in pop:
            genres = self.catalog.genres.get(i)
            if not genres:
                continue
            vec = mi.genre_vector(genres)
            mass += s * vec
            for g in np.flatnonzero(vec).tolist():
                trend.genre_popular.setdefault(g, []).append(i)
        trend.popular_genres = [int(g) for g in np.argsort(-mass, kind="stable") if mass[g] > 0]
        self.trend = trend
        return True


def _keep_trending_place(scores: np.ndarray, known: np.ndarray) -> None:
    """Items of a trending row (in trending order) that the model cannot score yet take the score of the known
    item trending just above them (the row's best for the top), so a new release that trends keeps its place
    among its neighbours instead of sinking to the end."""
    if known.all() or not known.any():
        return
    above = float(scores[known].max())
    for k in range(len(scores)):
        if known[k]:
            above = float(scores[k])
        else:
            scores[k] = above
