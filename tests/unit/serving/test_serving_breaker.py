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


def test_opening_is_reported_once_per_opening() -> None:
    now = [0.0]
    opened: list[int] = []
    b = Breaker(threshold=2, open_s=1.0, clock=lambda: now[0], on_open=lambda n, _s: opened.append(n))
    for _ in range(5):  # reads in flight when it opened fail too: still one opening
        b.failure()
    assert opened == [2]
    now[0] = 1.5
    b.failure()  # the half-open probe failed: it opens again
    assert opened == [2, 6]
