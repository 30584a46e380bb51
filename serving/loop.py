"""The ranker's event loop, with a clock of the time it spends idle.

A feature read that times out may be the store's fault (no answer) or the loop's (the answer was on the socket
while the loop ran other calls' work: CPU stages, but also gRPC and protobuf, the Redis client's parsing, the
impression log). Only the first kind may open the circuit breaker. The loop's own idle time tells them apart:
it is the time the loop spent waiting in ``select()`` for I/O, so ``1 - idle / wall`` over a read's wait is the
share of that wait the loop was busy with everything else, whatever the work was.

The clock is a selector that times its ``select`` calls, given to :class:`asyncio.SelectorEventLoop` (a public
parameter); ``serve`` runs on such a loop. Code on another loop (tests on pytest's loop) gets no clock, and the
stage runner then falls back to counting the CPU stages it ran itself.
"""

from __future__ import annotations

import asyncio
import selectors
import time
import weakref
from collections.abc import Callable

_CLOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IdleTimingSelector] = weakref.WeakKeyDictionary()


class IdleTimingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The platform's default selector, adding up the seconds its ``select`` blocked (the loop's idle time)."""

    def __init__(self) -> None:
        super().__init__()
        self.idle_s = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        t0 = time.perf_counter()
        try:
            return super().select(timeout)
        finally:
            self.idle_s += time.perf_counter() - t0


def new_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose idle time :func:`idle_clock` can read (``asyncio.Runner(loop_factory=new_loop)``)."""
    selector = IdleTimingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    _CLOCKS[loop] = selector
    return loop


def idle_clock() -> Callable[[], float] | None:
    """Seconds the running loop has spent idle so far, as a function to call again later; None when the loop
    was not made by :func:`new_loop`."""
    selector = _CLOCKS.get(asyncio.get_running_loop())
    if selector is None:
        return None
    return lambda: selector.idle_s
