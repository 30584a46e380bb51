"""A circuit breaker for the per-request feature read: after ``threshold`` consecutive failures, requests stop
trying for ``open_s`` (answering at once with the fallback instead of each spending its budget on a dead or
black-holed Redis), then one request probes again. ``on_open`` is told each time it opens (metric, log)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Breaker:
    def __init__(
        self,
        threshold: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_open: Callable[[int, float], None] | None = None,
    ) -> None:
        self._threshold = threshold
        self._open_s = open_s
        self._clock = clock
        self._on_open = on_open
        self._failures = 0
        self._open_until = 0.0

    def allow(self) -> bool:
        """Whether to try the dependency now (closed, or half-open after the pause)."""
        return self._failures < self._threshold or self._clock() >= self._open_until

    def success(self) -> None:
        self._failures = 0

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self._threshold:
            now = self._clock()
            was_open = now < self._open_until  # reads already in flight when it opened fail too: no new opening
            if not was_open:
                self._open_until = now + self._open_s
                if self._on_open is not None:
                    self._on_open(self._failures, self._open_s)
