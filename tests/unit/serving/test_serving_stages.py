"""Budgets from the deadline and the load, on plain data."""

from __future__ import annotations

import time

from serving.config import ServingConfig
from serving.metrics import Metrics
from serving.stages import Budget, StageRunner


def test_the_feature_budget_is_what_the_deadline_leaves_after_the_cpu_work_queued_ahead() -> None:
    runner = StageRunner(ServingConfig(), Metrics())
    runner.cost.mean = {"candidates": 0.001, "scoring": 0.001, "assemble": 0.001}
    budget = Budget(0.25, 0.01)
    alone = runner.features_budget(budget)
    assert 0.23 < alone < 0.24 - 0.003 * 1.5 + 1e-3  # 240 ms left, 4.5 ms of CPU ahead
    runner.in_flight = 20  # 20 calls on this loop need it before this one
    assert runner.features_budget(budget) < alone - 0.08
    runner.in_flight = 100
    assert runner.features_budget(budget) < 0  # no time: the read is skipped, not timed out
    assert runner.features_budget(Budget(60.0, 0.01)) == 0.5  # a long deadline: capped at features_max_ms


def test_cpu_stages_are_skipped_without_time_and_flagged_when_they_end_past_the_deadline() -> None:
    runner = StageRunner(ServingConfig(), Metrics())
    degraded: list[str] = []
    stage_ms: dict[str, float] = {}
    got, ok = runner.cpu("scoring", Budget(0.02, 0.0), lambda: time.sleep(0.03) or 7, degraded, stage_ms)
    assert (got, ok) == (7, True) and degraded == ["scoring:late"] and stage_ms["scoring"] >= 30
    got, ok = runner.cpu("scoring", Budget(0.0, 0.0), lambda: 7, degraded, stage_ms)
    assert (got, ok) == (None, False) and degraded[-1] == "scoring:no_time"
    assert runner.cost.mean["scoring"] > runner.cfg.budgets.cpu_initial_ms / 1000, "the measured cost is learnt"


def test_a_timeout_the_busy_loop_caused_does_not_open_the_breaker_but_a_slow_store_does() -> None:
    """Other calls' CPU stages holding the loop through a read's wait make its timeout the loop's: flagged and
    counted by cause, never a store failure; the same timeout on an idle loop opens the breaker (threshold 1)."""
    import asyncio

    cfg = ServingConfig(breaker_failures=1, budgets={"features_max_ms": 40.0, "cpu_initial_ms": 0.0})

    async def page(runner: StageRunner, other_call_holds_loop_s: float) -> list[str]:
        degraded: list[str] = []

        async def other_call() -> None:
            await asyncio.sleep(0)  # after the read started waiting
            if other_call_holds_loop_s:
                runner.cpu("scoring", Budget(1.0, 0.0), lambda: time.sleep(other_call_holds_loop_s), [], {})

        await asyncio.gather(runner.features(Budget(1.0, 0.0), lambda: asyncio.sleep(1.0), degraded, {}), other_call())
        return degraded

    # The metrics registry is the process's: other tests' timeouts are in it, so count this test's own.
    busy = StageRunner(cfg, Metrics())
    before = {c: busy.metrics.feature_timeouts.labels(cause=c)._value.get() for c in ("loop_busy", "store")}
    assert asyncio.run(page(busy, 0.06)) == ["features:timeout"]
    assert busy.breaker.allow(), "the loop's fault: the breaker stays closed"
    assert busy.metrics.feature_timeouts.labels(cause="loop_busy")._value.get() == before["loop_busy"] + 1

    idle = StageRunner(cfg, Metrics())
    assert asyncio.run(page(idle, 0.0)) == ["features:timeout"]
    assert not idle.breaker.allow(), "an idle loop and no answer: the store's fault"
    assert idle.metrics.feature_timeouts.labels(cause="store")._value.get() == before["store"] + 1


def test_the_loop_s_idle_clock_sees_work_that_is_no_cpu_stage() -> None:
    """On the ranker's loop (serving.loop.new_loop), any work holding the loop through a read's wait — here a
    callback standing in for gRPC/protobuf or the Redis client's parsing, which no CPU stage counts — makes the
    timeout the loop's. On a loop without the clock the runner only sees its CPU stages, and calls it the
    store's: the case the clock exists for."""
    import asyncio

    from serving.loop import new_loop

    cfg = ServingConfig(breaker_failures=1, budgets={"features_max_ms": 40.0, "cpu_initial_ms": 0.0})

    async def page(runner: StageRunner, other_work_s: float) -> list[str]:
        degraded: list[str] = []
        loop = asyncio.get_running_loop()
        loop.call_soon(time.sleep, other_work_s)  # not a stage: the runner's own CPU count misses it
        await runner.features(Budget(1.0, 0.0), lambda: asyncio.sleep(1.0), degraded, {})
        return degraded

    with asyncio.Runner(loop_factory=new_loop) as clocked:
        busy = StageRunner(cfg, Metrics())
        assert clocked.run(page(busy, 0.06)) == ["features:timeout"]
        assert busy.breaker.allow(), "the loop was busy for the whole wait: not the store's fault"
        slow_store = StageRunner(cfg, Metrics())
        assert clocked.run(page(slow_store, 0.0)) == ["features:timeout"]
        assert not slow_store.breaker.allow(), "an idle loop and no answer: the store's fault"

    unclocked = StageRunner(cfg, Metrics())
    assert asyncio.run(page(unclocked, 0.06)) == ["features:timeout"]
    assert not unclocked.breaker.allow(), "without the clock the non-stage work is invisible"
