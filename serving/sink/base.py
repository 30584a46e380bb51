"""The impression-log boundary: every served slate, with positions and propensities, so CTR per variant and
de-biased (inverse-propensity) estimates can be computed from the clicks that follow."""

from __future__ import annotations

from typing import Protocol

from serving.domain import Context, Page


class ImpressionSink(Protocol):
    def publish(self, page: Page, context: Context) -> None:
        """Hand the slate over without blocking the request; never raises."""
        ...

    def close(self, timeout_s: float) -> None: ...
