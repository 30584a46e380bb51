"""The freshness benchmark's load generator: which events are probes, and the line a probe travels on."""

from __future__ import annotations

from benchmarks.event_load import Probe, ProbeRule, pinned


def test_probe_rule_picks_every_nth_event_and_names_its_user() -> None:
    rule = ProbeRule("probe-", every=250)
    assert [rule.user(n) for n in (0, 1, 249, 250, 500)] == ["probe-0", None, None, "probe-250", "probe-500"]


def test_probe_rule_cycles_over_users() -> None:
    rule = ProbeRule("steady-", cycle=200)
    assert [rule.user(n) for n in (0, 1, 199, 200, 401)] == [
        "steady-0",
        "steady-1",
        "steady-199",
        "steady-0",
        "steady-1",
    ]


def test_probe_line_round_trip_keeps_the_produce_time_exactly() -> None:
    p = Probe("probe-250", 1796224676.912345678, 1796224676912, "i250")
    assert Probe.parse(p.line()) == p


def test_pinned_partition_is_stable_and_among_the_given() -> None:
    users = [f"u{k}" for k in range(200)]
    got = {u: pinned(u, [1, 2, 3]) for u in users}
    assert set(got.values()) == {1, 2, 3}
    assert got == {u: pinned(u, [1, 2, 3]) for u in users}


def test_the_homepage_poller_bounds_its_calls_and_asks_the_longest_waiting_first() -> None:
    """30 pending probe users, each allowed a call every 50 ms (600 calls/s), but the poller's cap is 100 calls/s:
    it never exceeds the cap (plus its 5-call burst), and serves users round-robin (every user asked before any is
    asked a second time)."""
    import time

    from benchmarks.streaming_freshness import HomepageProbes

    asked: list[str] = []

    class Call:
        def __init__(self, user: str) -> None:
            self.user = user

        def add_done_callback(self, done: object) -> None:
            done(self)  # type: ignore[operator]  # answered at once

        def result(self) -> object:
            from hybridrec_pb import ranker_pb2 as pb

            return pb.HomepageResponse()  # shows no probe: every user stays pending

    class Ranker:
        class GetHomepage:  # the stub's method name
            @staticmethod
            def future(request: object, timeout: float) -> Call:
                asked.append(request.user_id)  # type: ignore[attr-defined]
                return Call(request.user_id)  # type: ignore[attr-defined]

    probes = HomepageProbes(Ranker(), interval_s=0.05, calls_per_s=100.0)
    users = [f"probe-{k}" for k in range(30)]
    for k, user in enumerate(users):
        probes.add(user, time.time(), k, f"i{k}")
    start = time.time()
    while time.time() < start + 0.5:
        probes.poll()
        time.sleep(0.01)
    assert 30 <= len(asked) <= 100 * (time.time() - start) + 5
    assert sorted(asked[:30]) == sorted(users), "each pending user once before any twice"
    assert probes.report()["ask_gap_p50_ms"] >= 250, "30 users at 100 calls/s: each asked every ~300 ms"


def test_the_warm_up_s_pending_probes_are_forgotten_before_the_measurement() -> None:
    """Probes of the unmeasured warm-up, polled at the start of the measurement, delayed its first probes."""
    from benchmarks.streaming_freshness import HomepageProbes, Probes

    readable = Probes()
    probes = HomepageProbes(object(), readable=readable)
    for k in range(3):
        probes.add(f"probe-{k}", 1.0 + k, k, f"i{k}")
    sent = probes.sent["probe-0"]
    probes.saw("probe-0", sent, 1.5)
    probes.forget_pending()
    assert probes.pending() == [] and readable.pending() == []
    assert probes.latencies(0.0, 10.0) == ([0.5], 1), "what was seen stays measured"
