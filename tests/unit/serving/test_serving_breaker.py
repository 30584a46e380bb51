from __future__ import annotations

from serving.breaker import Breaker


def test_opens_after_consecutive_failures_then_probes_and_closes() -> None:
    now = [0.0]
    b = Breaker(threshold=3, open_s=1.0, clock=lambda: now[0])
    for _ in range(2):
        b.failure()
    b.success()  # a success resets the count
    for _ in range(2):
        b.failure()
    assert b.allow()
    b.failure()
    assert not b.allow()
    now[0] = 0.99
    assert not b.allow()
    now[0] = 1.0
    assert b.allow()  # half-open: one probe
    b.failure()
    assert not b.allow()  # probe failed: open again
    now[0] = 2.5
    assert b.allow()
    b.success()
    assert b.allow()
