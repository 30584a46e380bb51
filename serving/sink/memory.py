"""In-memory impression sink for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from serving.domain import Context, Page


@dataclass
class MemorySink:
    pages: list[tuple[Page, Context]] = field(default_factory=list)

    def publish(self, page: Page, context: Context) -> None:
        self.pages.append((page, context))

    def close(self, timeout_s: float) -> None:
        return None
