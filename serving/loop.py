"""The ranker's event loop, with a clock of the time it spends idle.

A feature read's budget is the store's time, not the loop's: while the loop runs other calls' work (CPU stages,
but also gRPC and protobuf, the Redis client's parsing, the impression log) an answer can sit on the socket
unseen. The loop's own idle time is the time it spent waiting in ``select()`` for I/O, i.e. watching for that
answer, whatever the other work was; ``serving.stages`` counts a read's budget in it, and only a store silent for
the whole budget of the loop's attention may open the circuit breaker.

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
