"""Model lifecycle: watch the registry pointer, load a newly promoted version in the background, swap it in
atomically (one reference assignment, read once per request), and never let a version that fails its
checksums, its schema check or its smoke score replace the one serving. Rollback is just the pointer moving
back: the previous version is kept loaded, so it takes effect on the next poll without a restart. Every swap
(a new load or a kept version) reads the batch item features (``item_batch``) afresh first.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from hybridrec.registry import ModelRegistry
from serving.features.base import FeatureReader
from serving.metrics import Metrics
from serving.model.bundle import LoadedModel, load_version

log = logging.getLogger("hybridrec.serving.model")


def settle_heap() -> None:
    """Move every object alive now (the models, their item features, the catalog) out of the cyclic GC's reach.
    While they were tracked, each full collection walked them for 60-130 ms on the event loop, a few times a
    minute: the serving p99 tail. Unfreezing first lets this one collection free what a dropped model left in
    cycles, so swaps do not pile up frozen garbage."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelHolder:
    """The serving model and its watcher. ``current`` is None until a version has loaded."""

    def __init__(
        self,
        registry: ModelRegistry,
        features: FeatureReader,
        metrics: Metrics,
        catalog_genres: Callable[[], dict[str, Sequence[str]]] = dict,
        keep: int = 2,
    ) -> None:
        self._registry = registry
        self._features = features
        self._metrics = metrics
        self._catalog_genres = catalog_genres
        self._keep = keep
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._failed: set[str] = set()
        self.current: LoadedModel | None = None

    async def _attach_items(self, model: LoadedModel) -> None:
        try:
            feats = await self._features.read_items(model.item_ids)
        except Exception as exc:  # Redis down at load: serve with zeros, retry on the next poll
            log.warning("item features of %s unavailable (%s); retrying on the next poll", model.version, exc)
            return
        await asyncio.to_thread(model.attach_item_features, feats, self._catalog_genres())

    async def refresh(self) -> str:
        """One poll: returns what happened (``unchanged``, ``loaded``, ``reused``, ``failed``, ``refused``)."""
        try:
            wanted = await asyncio.to_thread(self._registry.current_version)
        except Exception as exc:
            log.warning("registry pointer unreadable: %s", exc)
            return "failed"
        if self.current is not None and not self.current.item_features_loaded:
            await self._attach_items(self.current)
            if self.current.item_features_loaded:
                settle_heap()
        if wanted is None or (self.current is not None and wanted == self.current.version):
            return "unchanged"
        if wanted in self._loaded:
            # Batch materializes a version's item features before promoting it, and they may have been re-published
            # since this version was last served (a rollback to it): read them again, as a fresh load would.
            model = self._loaded[wanted]
            await self._attach_items(model)
            self._swap(model)
            settle_heap()
            return "reused"
        if wanted in self._failed:
            return "refused"
        try:
            version = await asyncio.to_thread(self._registry.get, wanted)
            model = await asyncio.to_thread(load_version, version)
        except Exception as exc:
            self._failed.add(wanted)
            self._metrics.model_loads.labels(outcome="failed").inc()
            log.error("model %s refused, keeping %s: %s", wanted, self.current.version if self.current else "none", exc)
            return "failed"
        await self._attach_items(model)
        self._loaded[wanted] = model
        while len(self._loaded) > self._keep:
            self._loaded.popitem(last=False)
        self._swap(model)
        settle_heap()
        self._metrics.model_loads.labels(outcome="loaded").inc()
        return "loaded"

    def _swap(self, model: LoadedModel) -> None:
        self._loaded.move_to_end(model.version)
        previous = self.current
        self.current = model
        self._metrics.set_model(model.version, previous.version if previous else None)
        log.info("serving model %s (was %s)", model.version, previous.version if previous else "none")

    async def run(
        self, interval_s: float, stop: asyncio.Event, on_poll: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        while not stop.is_set():
            outcome = await self.refresh()
            if on_poll is not None:
                await on_poll(outcome)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
