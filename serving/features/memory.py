"""In-memory feature backend: tests of the ranking logic and of the degraded paths."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from serving.features.base import ItemFeatures, Trending, UserFeatures


@dataclass
class MemoryFeatures:
    users: dict[str, UserFeatures] = field(default_factory=dict)
    items: dict[str, ItemFeatures] = field(default_factory=dict)
    trending: dict[str, Trending] = field(default_factory=dict)
    delay_s: float = 0.0  # simulate a slow store
    down: bool = False  # simulate an unreachable store

    async def _wait(self) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            raise ConnectionError("memory feature store is down")

    async def read_user(self, user_id: str) -> UserFeatures | None:
        await self._wait()
        return self.users.get(user_id)

    async def read_items(self, item_ids: Sequence[str]) -> dict[str, ItemFeatures]:
        await self._wait()
        return {i: self.items[i] for i in item_ids if i in self.items}

    async def read_trending(self, item_ids: Sequence[str]) -> dict[str, Trending]:
        await self._wait()
        return {i: self.trending[i] for i in item_ids if i in self.trending}

    async def close(self) -> None:
        return None
