"""Running a request's stages against its deadline: budgets derived from the deadline and the load, the
degradation flags and stage metrics, and the circuit breaker of the per-request feature read.

Budgets are not fixed numbers. What a stage may take is what is left of the client's deadline after the
reserve (encoding, network) and after what the CPU stages still ahead of it are expected to cost. That
expectation is measured, not configured: a moving average of the CPU stages' wall time per page, multiplied
by the requests in flight on this event loop (they all need the loop before this one finishes), so a call
with a 1 s deadline waits for its features as long as it can afford to, and under load a 250 ms call gives
up its fresh features only when the queue ahead of it really leaves no time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from serving.breaker import Breaker
from serving.config import ServingConfig
from serving.loop import idle_clock
from serving.metrics import Metrics

log = logging.getLogger("hybridrec.serving")
T = TypeVar("T")
CPU_STAGES = ("candidates", "scoring", "assemble")


class Budget:
    """The time left of one call: ``deadline_s`` from its arrival minus ``reserve_s``."""

    def __init__(self, deadline_s: float, reserve_s: float) -> None:
        self.start = time.perf_counter()
        self.end = self.start + deadline_s - reserve_s

    def left(self) -> float:
        return self.end - time.perf_counter()


class CpuCost:
    """Moving average of each CPU stage's wall time (seconds), per page: what the stages after a feature read
    are expected to take. Starts from ``initial_s`` per stage until pages have been measured."""

    def __init__(self, initial_s: float, alpha: float = 0.05) -> None:
        self._alpha = alpha
        self.mean = dict.fromkeys(CPU_STAGES, initial_s)

    def observe(self, stage: str, seconds: float) -> None:
        m = self.mean.get(stage)
        if m is not None:
            self.mean[stage] = m + self._alpha * (seconds - m)

    def ahead(self, after: str | None = None) -> float:
        """Expected seconds of the CPU stages after ``after`` (all of them for None)."""
        stages = CPU_STAGES if after is None else CPU_STAGES[CPU_STAGES.index(after) + 1 :]
        return sum(self.mean[s] for s in stages)


class StageRunner:
    """Runs stages for the engine: times them, flags degradation, derives budgets, guards the feature read
    with the breaker. One per engine (one event loop), so ``in_flight`` is this loop's queue."""

    def __init__(self, cfg: ServingConfig, metrics: Metrics) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.cost = CpuCost(cfg.budgets.cpu_initial_ms / 1000.0)
        self.in_flight = 0
        self.busy_s = 0.0  # CPU-stage seconds this loop has run, all calls together (see ``features``)
        self.breaker = Breaker(cfg.breaker_failures, cfg.breaker_open_s, on_open=self._breaker_opened)
        self._last_failure = ("", "")  # kind (the metric's label), detail (the log line's)

    def observe(self, name: str, seconds: float, stage_ms: dict[str, float]) -> None:
        stage_ms[name] = round(seconds * 1000, 3)
        self.metrics.child(self.metrics.stage, "stage", name).observe(seconds)
        self.cost.observe(name, seconds)

    def degrade(self, degraded: list[str], reason: str) -> None:
        degraded.append(reason)
        self.metrics.child(self.metrics.degraded, "reason", reason).inc()

    def _breaker_opened(self, failures: int, open_s: float) -> None:
        kind, detail = self._last_failure
        self.metrics.breaker_opened.labels(cause=kind or "unknown").inc()
        log.warning(
            "feature-store breaker open for %.1f s after %d consecutive failed reads (last: %s); pages "
            "are served without the user's features meanwhile",
            open_s,
            failures,
            detail,
        )

    def features_budget(self, budget: Budget) -> float:
        """Seconds the feature read may take: what the deadline leaves after the CPU stages this call still
        needs, times the calls in flight ahead of it on this loop; at most ``features_max_ms``."""
        queue = max(1, self.in_flight) * self.cfg.budgets.cpu_headroom
        return min(self.cfg.budgets.features_max_ms / 1000.0, budget.left() - self.cost.ahead() * queue)

    def _watch_clock(self) -> Callable[[], float]:
        """Seconds the running loop has been free to see a reply so far: its idle clock (:mod:`serving.loop`: all
        work counts as busy, gRPC and protobuf included), or on a loop without one the wall time minus the CPU
        stages this runner ran."""
        idle = idle_clock()
        if idle is not None:
            return idle
        return lambda: time.perf_counter() - self.busy_s

    async def features(
        self, budget: Budget, read: Callable[[], Awaitable[T]], degraded: list[str], stage_ms: dict[str, float]
    ) -> T | None:
        """The per-request store read under the breaker: a failure of the store (error, or no answer within a
        budget the deadline afforded) counts towards opening it; a read skipped for lack of time does not.

        The budget is the store's time, not the loop's: it counts only the time the loop was free to see the
        reply (its idle clock). While other calls' work holds the loop, a reply can sit on the socket; dropping
        it at the wall-clock budget threw away answers Redis had given in a millisecond (on a loaded 2-core
        machine most ``features:timeout`` pages were that) and, under overload, opened the breaker on a healthy
        store. So the wait goes on while the loop is busy, up to what the call's deadline affords after its own
        CPU stages; a read that ends there is flagged ``features:timeout`` but is the loop's (``cause="loop_busy"``),
        never counted by the breaker. Only a store that stays silent for the whole budget of the loop's attention
        is failing (``cause="store"``)."""
        if not self.breaker.allow():
            self.degrade(degraded, "features:circuit_open")
            return None
        timeout = self.features_budget(budget)
        if timeout * 1000.0 < self.cfg.budgets.features_min_ms:  # too little to tell anything about the store
            self.degrade(degraded, "features:no_time")
            return None
        loop = asyncio.get_running_loop()
        watched = self._watch_clock()
        t0, watched0 = time.perf_counter(), watched()
        latest = loop.time() + budget.left() - self.cost.ahead() * self.cfg.budgets.cpu_headroom  # >= timeout
        expired: list[str] = []  # why the wait ended, when it did: "store" or "loop_busy"
        try:
            async with asyncio.timeout(None) as window:  # no extra task per call, unlike wait_for

                def check() -> None:
                    now, unwatched = loop.time(), timeout - (watched() - watched0)
                    if unwatched <= 0 or now >= latest:
                        expired.append("store" if unwatched <= 0 else "loop_busy")
                        window.reschedule(now)
                    else:
                        timer[0] = loop.call_at(min(now + unwatched, latest), check)

                timer = [loop.call_at(loop.time() + timeout, check)]
                try:
                    got = await read()
                finally:
                    timer[0].cancel()
        except TimeoutError:
            self.degrade(degraded, "features:timeout")
            cause = expired[0] if expired else "store"
            self.metrics.child(self.metrics.feature_timeouts, "cause", cause).inc()
            if cause == "store":
                wall = time.perf_counter() - t0
                self._last_failure = (
                    "timeout",
                    f"no answer within {timeout * 1000:.1f} ms of the loop's watch ({wall * 1000:.1f} ms wall)",
                )
                self.breaker.failure()
            return None
        except Exception as exc:
            self.degrade(degraded, "features:unavailable")
            self._last_failure = ("unavailable", f"{type(exc).__name__}: {exc}")
            log.debug("feature read failed: %r", exc)
            self.breaker.failure()
            return None
        finally:
            self.observe("features", time.perf_counter() - t0, stage_ms)
        self.breaker.success()
        return got

    def cpu(
        self, name: str, budget: Budget, fn: Callable[[], T], degraded: list[str], stage_ms: dict[str, float]
    ) -> tuple[T | None, bool]:
        """A CPU stage (numpy/faiss/torch) runs inline on the event loop: skipped (``no_time``) when what is left
        of the deadline is less than its expected cost, flagged ``late`` when it ends past the deadline.

        Why not ``wait_for`` on a worker thread: a timed-out thread keeps burning the CPU the next requests
        need (under overload that snowballs), and GIL hand-offs between the loop and the worker cost up to
        the 5 ms switch interval each, which measured worse than the work itself on 2 shared cores.
        """
        if budget.left() <= self.cost.mean.get(name, 0.0):
            self.degrade(degraded, f"{name}:no_time")
            return None, False
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception:
            log.exception("stage %s failed", name)
            self.degrade(degraded, f"{name}:unavailable")
            return None, False
        finally:
            spent = time.perf_counter() - t0
            self.busy_s += spent
            self.observe(name, spent, stage_ms)
        if budget.left() < 0:
            self.degrade(degraded, f"{name}:late")
        return result, True
