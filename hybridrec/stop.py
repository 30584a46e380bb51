"""SIGINT and SIGTERM as a request to stop at the next safe point.

Python's default turns Ctrl-C into an exception raised wherever the main thread happens to be, and SIGTERM
(what a supervisor sends) ends the process on the spot: either way a producer's queued records were dropped
without a word. A long-running command runs inside :class:`StopSignals` instead and polls it between units of
work, then flushes and reports; a second signal while it does so stops at once.
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager; calling it returns the first signal's name (``"SIGINT"``) once one arrived, else None."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:  # asked twice: stop now, whatever is in flight
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)

    def __call__(self) -> str | None:
        return self.received.name if self.received is not None else None

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number (130 for Ctrl-C)."""
        return 128 + int(self.received) if self.received is not None else 0

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
