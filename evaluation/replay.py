"""The replay evaluation through the running services (issue #15): every target of the live period is predicted
by the ranker from the state just before it, then streamed through Kafka until its features are visible.

Modes, all asked of the running ranker as of the target's time with a 1 s deadline (quality is measured, not
the latency budget):
- **batch-only**: the user's ``FOR_YOU`` row of 20 before any live event was streamed (the system's knowledge
  frozen at the cut: model, embeddings and fresh features as of the history);
- **hybrid**: the same row at the target's pause, the user's fresh features holding exactly their events
  before the target (checked through the feature store, see :mod:`hybridrec.nextitem`);
- **popularity**: the ``POPULAR`` row at the same pause.
The offline baselines (:mod:`evaluation.offline`) are scored on the same targets with the same metric code.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import uncertainty
from evaluation.client import Call
from evaluation.features import read_states
from evaluation.loop import Loop
from evaluation.offline import run_baselines
from evaluation.scoring import Catalog, by_segment
from evaluation.stream import Period
from hybridrec import fresh_features, metrics, nextitem
from hybridrec_pb import ranker_pb2 as pb

SERVED = ("popularity", "batch-only", "hybrid")
ROW = 20  # the FOR_YOU row's length


@dataclass
class ReplayOptions:
    max_targets_per_user: int | None = 50
    recent_n: int = field(default_factory=lambda: fresh_features.USER_FRESH.one(fresh_features.LastN).n)
    """how many recent items the speed layer keeps (the declaration's), what a paused user's state is checked on"""
    freshness_timeout_s: float = 30.0  # a pause waits this long for a user's features, then asks anyway
    deadline_ms: float = 1000.0
    in_flight: int = 4  # concurrent ranker calls (more make the ranker's fixed 20 ms feature budget time out)
    baselines: bool = True
    validation_fraction: float = 0.9  # the baselines' validation cut inside the history
    poll_s: float = 0.02
    settle_s: float = 1.0
    """once a user's newest event is visible, how long the rest of their state may still take: the job writes on
    arrival, so of several events in the user's newest millisecond the first can be readable before the others"""


@dataclass
class PauseCheck:
    """What one pause found: how long its users' features took, and which were late or wrong."""

    waited_ms: float
    timed_out: list[str]
    mismatched: list[str]


class Replay:
    """The replay of one loop's live period. Call :meth:`ask_batch_only` before :meth:`stream_live`."""

    def __init__(self, loop: Loop, opts: ReplayOptions) -> None:
        assert loop.cut is not None and loop.client is not None
        self.loop, self.opts, self.cut, self.client = loop, opts, loop.cut, loop.client
        self.targets = nextitem.select_targets(self.cut.history, self.cut.live, max_per_user=opts.max_targets_per_user)
        self.pauses = nextitem.plan_pauses(self.cut.live.column("event_time_ms").to_numpy(), self.targets)
        self.truth = nextitem.Timeline([self.cut.history, self.cut.live])
        self._index = {t.position: n for n, t in enumerate(self.targets)}
        self.calls: dict[str, list[Call | None]] = {m: [None] * len(self.targets) for m in SERVED}
        self.per_target: dict[str, np.ndarray] = {}  # mode → NDCG@10 of each target, filled by :meth:`results`
        self.checks: list[PauseCheck] = []
        self.timed_out_targets = 0
        self.seconds: dict[str, float] = {}
        self.guardrail: dict[str, dict[str, float]] = {}  # the ranker's entropy guardrail after each phase
        returning = sum(t.returning for t in self.targets)
        loop.say(
            f"  {len(self.targets):,} targets ({returning:,} of returning users, {len(self.targets) - returning:,}"
            f" of new users; at most {opts.max_targets_per_user} per user), {len(self.pauses):,} pauses"
        )

    def _queries(self, targets: Sequence[nextitem.Target]) -> list[tuple[str, int]]:
        return [(t.user_id, t.time_ms - 1) for t in targets]

    def ask_batch_only(self) -> None:
        """Every target's FOR_YOU row before any live event is streamed."""
        t0 = time.perf_counter()
        calls = self.client.rows(
            self._queries(self.targets),
            pb.FOR_YOU,
            ROW,
            deadline_ms=self.opts.deadline_ms,
            in_flight=self.opts.in_flight,
        )
        self.calls["batch-only"] = list(calls)
        self.seconds["batch_only"] = round(time.perf_counter() - t0, 1)
        self.guardrail["after batch-only"] = self.loop.guardrail()

    def stream_live(self, on_pause: Callable[[nextitem.Pause, int], None] | None = None) -> None:
        """Stream the live period forwards, pausing where targets are due; then the rest of it."""
        loop, opts = self.loop, self.opts
        period = Period(loop.producer, self.cut.live)
        t0 = last_report = time.perf_counter()
        for k, pause in enumerate(self.pauses):
            if k % 50 == 0:
                loop.check()
            period.advance(pause.position)
            loop.clock.tick(pause.watermark_ms)
            self.checks.append(self._await(pause))
            calls = {
                m: self.client.rows(
                    self._queries(pause.targets), row, ROW, deadline_ms=opts.deadline_ms, in_flight=opts.in_flight
                )
                for m, row in (("hybrid", pb.FOR_YOU), ("popularity", pb.POPULAR))
            }
            for m, got in calls.items():
                for t, call in zip(pause.targets, got, strict=True):
                    self.calls[m][self._index[t.position]] = call
            if on_pause is not None:
                on_pause(pause, k)
            if time.perf_counter() - last_report > 30 or k + 1 == len(self.pauses):
                last_report = time.perf_counter()
                self._progress(k + 1, last_report - t0)
        period.advance(self.cut.live.num_rows)
        if self.cut.live.num_rows:
            loop.clock.tick(int(self.cut.live.column("event_time_ms")[-1].as_py()) + 60_000)
        self.seconds["live"] = round(time.perf_counter() - t0, 1)
        self.guardrail["after live"] = self.loop.guardrail()

    def _await(self, pause: nextitem.Pause) -> PauseCheck:
        """Wait until each user of the pause holds exactly their events before it (read through Feast)."""
        want = {t.user_id: self.truth.state_before(t.user_id, pause.time_ms, self.opts.recent_n) for t in pause.targets}
        pending = sorted(u for u, s in want.items() if s.last_event_ms is not None)
        got: dict[str, nextitem.UserState] = {}
        sent = time.monotonic()
        deadline = sent + self.opts.freshness_timeout_s
        settle: float | None = None
        while True:
            got.update(read_states(self.loop.store, pending) if pending else {})
            pending = [u for u in pending if not nextitem.state_matches(got[u], want[u])]
            now = time.monotonic()
            if not pending or now > deadline:
                break
            # Every newest event is visible but some state differs: a same-millisecond event may still be on
            # its way (last_event_ms cannot tell), so wait a little longer, then count what still differs.
            if settle is None and all(got[u].last_event_ms == want[u].last_event_ms for u in pending):
                settle = now + self.opts.settle_s
            if settle is not None and now > settle:
                break
            time.sleep(self.opts.poll_s)
        waited = (time.monotonic() - sent) * 1000
        if got:  # someone's features had to arrive: a freshness probe (produce, flush, clock → readable)
            self.loop.timeline.freshness.append((sent - self.loop.timeline.t0, waited))
        late = {u for u in pending if got[u].last_event_ms != want[u].last_event_ms}
        self.timed_out_targets += sum(1 for t in pause.targets if t.user_id in late)
        cold = [u for u, s in want.items() if s.last_event_ms is None]
        got.update(read_states(self.loop.store, cold) if cold else {})
        wrong = [u for u in want if u not in late and not nextitem.state_matches(got[u], want[u])]
        return PauseCheck(waited, sorted(late), wrong)

    def _progress(self, done: int, elapsed: float) -> None:
        n = len(self.pauses)
        waits = [c.waited_ms for c in self.checks]
        eta = elapsed / done * (n - done)
        self.loop.say(
            f"  pause {done:,}/{n:,} ({elapsed:.0f} s, ~{eta:.0f} s left): wait p50 "
            f"{metrics.percentiles(waits)['p50']:.0f} ms; {self.timed_out_targets} targets past the "
            f"freshness timeout, {sum(len(c.mismatched) for c in self.checks)} state mismatches"
        )

    # --- results -----------------------------------------------------------------------------------------

    def results(self, catalog: Catalog) -> dict[str, Any]:
        """Every mode's metrics per segment, the checks, the latency of the evaluation calls."""
        seen = [set(self.truth.engaged_before(t.user_id, t.time_ms)) for t in self.targets]
        # seen@20 counts what the service could know the user engaged with when the row was asked: batch-only
        # rows are asked before any live event is streamed, so their live engagements are not held against them.
        in_history = [set(self.truth.engaged_before(t.user_id, self.cut.split_ms)) for t in self.targets]
        modes: dict[str, Any] = {}
        degraded: dict[str, dict[str, int]] = {}
        reasons: dict[str, dict[str, float]] = {}  # share of the served slots per reason (what brought them)
        per_target = self.per_target  # NDCG@10 of each target, for the intervals (and ``per_target.json``)
        for mode in SERVED:
            calls = [c if c is not None else Call([], 0.0, error="not asked") for c in self.calls[mode]]
            per_target[mode] = uncertainty.ndcg_per_target([c.items for c in calls], self.targets)
            modes[mode] = by_segment(
                [c.items for c in calls],
                self.targets,
                catalog,
                seen=in_history if mode == "batch-only" else seen,
                failed=[failed(c) for c in calls],
            )
            degraded[mode] = dict(Counter(d for c in calls for d in ([c.error] if c.error else c.degraded)))
            slots = Counter(r for c in calls for r in c.reasons)
            reasons[mode] = {r: round(n / max(1, slots.total()), 4) for r, n in slots.most_common()}
        baselines: dict[str, Any] = {}
        if self.opts.baselines:
            t0 = time.perf_counter()
            for b in run_baselines(
                self.cut.history,
                self.truth,
                self.targets,
                validation_fraction=self.opts.validation_fraction,
                max_per_user=self.opts.max_targets_per_user,
                say=self.loop.say,
            ):
                modes[b.name] = by_segment(b.lists, self.targets, catalog, seen=seen)
                baselines[b.name] = b.summary()
                per_target[b.name] = uncertainty.ndcg_per_target(b.lists, self.targets)
            self.seconds["baselines"] = round(time.perf_counter() - t0, 1)
        waits = [c.waited_ms for c in self.checks]
        return {
            "protocol": {
                "history_fraction": self.loop.opts.history_fraction,
                "max_targets_per_user": self.opts.max_targets_per_user,
                "targets": len(self.targets),
                "returning": sum(t.returning for t in self.targets),
                "pauses": len(self.pauses),
                "live_events": self.cut.live.num_rows,
                "deadline_ms": self.opts.deadline_ms,
            },
            "modes": modes,
            "intervals": uncertainty.comparisons(per_target, self.targets, SERVED, list(baselines)),
            "served": list(SERVED),
            "baselines": baselines,
            "degraded": degraded,
            "reasons": reasons,
            "checks": {
                "pauses": len(self.checks),
                "freshness_timeout_s": self.opts.freshness_timeout_s,
                "timed_out_targets": self.timed_out_targets,
                "state_mismatches": sum(len(c.mismatched) for c in self.checks),
                "mismatched_users": sorted({u for c in self.checks for u in c.mismatched})[:50],
                "wait_ms": metrics.percentiles(waits),
            },
            "seconds": self.seconds,
            "guardrail": self.guardrail,
        }


def write_per_target(replay: Replay, path: Path) -> Path:
    """Every target's key (user, item, time) and each mode's NDCG@10 on it, after :meth:`Replay.results`: what
    ``hybridrec eval compare`` pairs two runs on (:func:`evaluation.uncertainty.load_per_target`)."""
    return uncertainty.save_per_target(
        uncertainty.PerTarget([(t.user_id, t.item_id, t.time_ms) for t in replay.targets], replay.per_target), path
    )


def target_records(targets: Sequence[nextitem.Target], calls: dict[str, list[Call | None]]) -> list[dict[str, Any]]:
    """One record per target: who, when, which item, and what every served mode answered (items, each slot's
    reason, the target's 0-based rank or -1, degraded flags, error): the per-target evidence behind the metrics,
    for comparing a served row with an offline score of the same target (``--dump-targets``)."""
    out = []
    for n, t in enumerate(targets):
        rec: dict[str, Any] = {
            "user_id": t.user_id,
            "item_id": t.item_id,
            "time_ms": t.time_ms,
            "position": t.position,
            "returning": t.returning,
        }
        for mode, got in calls.items():
            call = got[n]
            if call is None:
                rec[mode] = {"error": "not asked"}
                continue
            rank = call.items.index(t.item_id) if t.item_id in call.items else -1
            rec[mode] = {
                "items": call.items,
                "reasons": call.reasons,
                "rank": rank,
                "degraded": call.degraded,
                "error": call.error,
            }
        out.append(rec)
    return out


NOT_FAILURES = ("user:cold_start", "row:for_you_unavailable")
"""Degraded flags that describe the user (no history yet: popular rows instead of FOR_YOU), not a failure."""


def failed(call: Call) -> bool:
    """An error, or an answer a stage or dependency degraded (a timeout, a late stage, an open breaker)."""
    return bool(call.error) or any(d not in NOT_FAILURES for d in call.degraded)


def catalog_of(loop: Loop) -> Catalog:
    """Coverage, genre and novelty reference of a loop: its items and the history's engagement counts."""
    assert loop.cut is not None
    h = loop.cut.history
    engaged = set(nextitem.ENGAGEMENT_TYPES)
    counts = Counter(
        i
        for i, k in zip(h.column("item_id").to_pylist(), h.column("event_type").to_pylist(), strict=True)
        if k in engaged
    )
    return Catalog.of(loop.items, counts)
