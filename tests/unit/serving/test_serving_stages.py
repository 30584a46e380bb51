"""Budgets from the deadline and the load, on plain data."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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


def _read_during_busy_loop(
    runner: StageRunner, busy_s: float, answer_after_s: float, deadline_s: float = 1.0, stage: bool = True
) -> tuple[object, list[str], float]:
    """One feature read whose store answers after ``answer_after_s`` while another call holds the loop for
    ``busy_s`` (a CPU stage, or with ``stage=False`` plain work no stage counts): what the read returned, the
    flags and the wall seconds it took. Runs on the running loop."""
    import asyncio

    async def page() -> tuple[object, list[str], float]:
        degraded: list[str] = []

        async def store() -> str:
            await asyncio.sleep(answer_after_s)
            return "features"

        async def other_call() -> None:
            await asyncio.sleep(0)  # after the read started waiting
            if stage:
                runner.cpu("scoring", Budget(1.0, 0.0), lambda: time.sleep(busy_s), [], {})
            else:
                time.sleep(busy_s)

        t0 = time.perf_counter()
        got, _ = await asyncio.gather(runner.features(Budget(deadline_s, 0.0), store, degraded, {}), other_call())
        return got, degraded, time.perf_counter() - t0

    return page()  # type: ignore[return-value]


CFG = ServingConfig(breaker_failures=1, budgets={"features_max_ms": 40.0, "cpu_initial_ms": 0.0})


def _timeouts(runner: StageRunner) -> dict[str, float]:
    # The metrics registry is the process's: other tests' timeouts are in it, so tests count their own.
    return {c: runner.metrics.feature_timeouts.labels(cause=c)._value.get() for c in ("loop_busy", "store")}


def _on_both_loops(test: Callable[[Callable[[Any], Any]], None]) -> None:
    """Run ``test(run)`` on the ranker's loop (its idle clock) and on a plain asyncio loop (CPU stages counted)."""
    import asyncio

    from serving.loop import new_loop

    with asyncio.Runner(loop_factory=new_loop) as clocked:
        test(clocked.run)
    test(asyncio.run)


def test_an_answer_that_came_while_other_calls_held_the_loop_is_used() -> None:
    """The store answers in 10 ms, but another call holds the loop for 60 ms, past the 40 ms budget: the budget
    counts the loop's watch, not the wall, so the answer is used (it used to be dropped as features:timeout)."""

    def test(run: Callable[[Any], Any]) -> None:
        runner = StageRunner(CFG, Metrics())
        got, degraded, wall = run(_read_during_busy_loop(runner, busy_s=0.06, answer_after_s=0.01))
        assert (got, degraded) == ("features", [])
        assert wall >= 0.06 and runner.breaker.allow()

    _on_both_loops(test)


def test_a_store_silent_for_the_loop_s_whole_watch_is_failing() -> None:
    """No answer: the read waits out the 60 ms the loop was busy plus its 40 ms of the loop's attention, then
    counts as the store's failure (the breaker, threshold 1, opens)."""

    def test(run: Callable[[Any], Any]) -> None:
        runner = StageRunner(CFG, Metrics())
        before = _timeouts(runner)
        got, degraded, wall = run(_read_during_busy_loop(runner, busy_s=0.06, answer_after_s=5.0))
        assert (got, degraded) == (None, ["features:timeout"])
        assert wall >= 0.06 + 0.04 - 0.005, "the busy time does not eat the store's budget"
        assert not runner.breaker.allow(), "the loop watched 40 ms and no answer: the store's fault"
        assert _timeouts(runner)["store"] == before["store"] + 1

    _on_both_loops(test)


def test_the_deadline_bounds_the_wait_and_a_wait_the_loop_ate_is_not_the_store_s() -> None:
    """An 80 ms call whose loop another call holds for 100 ms: the wait ends at what the deadline affords, the
    page loses its features, and the timeout is the loop's (counted by cause, breaker closed)."""

    def test(run: Callable[[Any], Any]) -> None:
        runner = StageRunner(CFG, Metrics())
        before = _timeouts(runner)
        got, degraded, wall = run(_read_during_busy_loop(runner, busy_s=0.1, answer_after_s=5.0, deadline_s=0.08))
        assert (got, degraded) == (None, ["features:timeout"])
        assert wall < 0.1 + 0.03, "no wait past the deadline once the loop is free"
        assert runner.breaker.allow(), "the loop's fault: the breaker stays closed"
        assert _timeouts(runner)["loop_busy"] == before["loop_busy"] + 1

    _on_both_loops(test)


def test_the_loop_s_idle_clock_sees_work_that_is_no_cpu_stage() -> None:
    """On the ranker's loop (serving.loop.new_loop), any work holding the loop through a read's wait — here plain
    work standing in for gRPC/protobuf or the Redis client's parsing, which no CPU stage counts — is not the
    store's time: an 80 ms call whose loop that work holds for 100 ms loses its features, but the breaker stays
    closed. On a loop without the clock the runner only sees its CPU stages, counts that work as the store's
    time, and opens it: the case the clock exists for."""
    import asyncio

    from serving.loop import new_loop

    with asyncio.Runner(loop_factory=new_loop) as clocked:
        runner = StageRunner(CFG, Metrics())
        got, degraded, _ = clocked.run(_read_during_busy_loop(runner, 0.1, 5.0, deadline_s=0.08, stage=False))
        assert (got, degraded) == (None, ["features:timeout"])
        assert runner.breaker.allow(), "the loop was busy for the whole wait: not the store's fault"

    unclocked = StageRunner(CFG, Metrics())
    got, degraded, _ = asyncio.run(_read_during_busy_loop(unclocked, 0.1, 5.0, deadline_s=0.08, stage=False))
    assert (got, degraded) == (None, ["features:timeout"])
    assert not unclocked.breaker.allow(), "without the clock the non-stage work is invisible"
