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
