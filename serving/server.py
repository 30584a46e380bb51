"""``serve()``: the only wiring of the ranker. Builds the backends from the settings, starts the gRPC
server with health checking and reflection, the model watcher, the trending refresh and the metrics
endpoint, and stops gracefully (in-flight calls get ``grace_s``; health turns NOT_SERVING first)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import faiss
import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from threadpoolctl import threadpool_limits

from hybridrec.registry import ModelRegistry
from hybridrec_pb import ranker_pb2, ranker_pb2_grpc
from serving import grpc_log, reflection
from serving.catalog import SKIP_REASONS, Catalog, read_catalog_topic
from serving.config import ServingSettings
from serving.engine import Engine
from serving.features.base import FeatureReader
from serving.metrics import Metrics
from serving.model.watcher import ModelHolder
from serving.servicer import RankerServicer
from serving.sink.base import ImpressionSink

log = logging.getLogger("hybridrec.serving")
SERVICE = ranker_pb2.DESCRIPTOR.services_by_name["Ranker"].full_name


def feature_reader(settings: ServingSettings) -> FeatureReader:
    if settings.serving.feature_backend == "feast":
        from serving.features.feast_sdk import FeastFeatureReader

        return FeastFeatureReader(settings)
    from serving.features.redis_direct import RedisFeatureReader

    return RedisFeatureReader(settings.redis, settings.feast.project)


def impression_sink(settings: ServingSettings, metrics: Metrics) -> ImpressionSink:
    from serving.sink.kafka import KafkaImpressionSink

    return KafkaImpressionSink(settings.kafka, metrics)


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    metrics_port: int | None
    engine: Engine
    holder: ModelHolder
    health: health.aio.HealthServicer
    stop_event: asyncio.Event
    tasks: list[asyncio.Task[None]]
    sink: ImpressionSink

    async def stop(self, grace_s: float) -> None:
        """NOT_SERVING first (load balancers drain), then let in-flight calls finish, then the rest."""
        await _set_health(self.health, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.stop_event.set()
        await self.server.stop(grace_s)
        for t in self.tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.engine.close()
        await self.engine.features.close()
        self.sink.close(grace_s)
        self.engine.metrics.close()


async def _set_health(servicer: health.aio.HealthServicer, status: int) -> None:
    for name in ("", SERVICE):
        await servicer.set(name, status)


def pin_threads() -> None:
    """One compute thread per process: the event loop runs the CPU stages inline, and a worker process per core
    is how the ranker uses the machine; OpenMP pools (torch, faiss) spin-waiting beside the loop cost far more
    than they gain on a page-sized batch. numpy's BLAS too: OpenBLAS splits a matmul of a page's size (the numpy
    ranker's, a few hundred rows) over every core, and on a shared core that costs tens of times its work."""
    threadpool_limits(1)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel op
        torch.set_num_interop_threads(1)


async def start(
    settings: ServingSettings,
    *,
    features: FeatureReader | None = None,
    sink: ImpressionSink | None = None,
    registry: ModelRegistry | None = None,
    catalog: Catalog | None = None,
    load_catalog: bool = True,
) -> Running:
    """Start everything; returns once the port is bound and the first model poll has run."""
    cfg = settings.serving
    pin_threads()
    metrics = Metrics()
    grpc_log.install(metrics)
    features = features or feature_reader(settings)
    sink = sink or impression_sink(settings, metrics)
    catalog = catalog or Catalog()
    holder = ModelHolder(
        registry or ModelRegistry(settings.paths.registry_root),
        features,
        metrics,
        catalog_genres=lambda: catalog.genres,
    )
    engine = Engine(cfg, holder, features, sink, metrics, catalog)

    # SO_REUSEPORT only when several worker processes share the port on purpose; otherwise a second server on
    # the same port must fail loudly instead of silently taking half the traffic.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if cfg.worker_count > 1 else 0)])
    ranker_pb2_grpc.add_RankerServicer_to_server(RankerServicer(engine), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable(server, (SERVICE, health.SERVICE_NAME))
    port = server.add_insecure_port(f"{cfg.host}:{cfg.port}")
    if port == 0:
        raise RuntimeError(f"cannot bind {cfg.host}:{cfg.port}; set HYBRIDREC_SERVING__PORT to a free port")
    metrics_port = metrics.serve(cfg.metrics_port, cfg.host) if cfg.metrics_port is not None else None

    stop_event = asyncio.Event()

    async def refresh_catalog() -> None:
        try:
            loaded = await asyncio.to_thread(read_catalog_topic, settings.kafka)
        except Exception as exc:
            log.warning("catalog not read (%s); titles fall back to item ids", exc)
            return
        catalog.update(loaded)
        for reason in SKIP_REASONS:
            metrics.catalog_skipped.labels(reason=reason).set(catalog.skipped[reason])

    if load_catalog:
        await refresh_catalog()
    await holder.refresh()
    await engine.refresh_trending()

    async def trending_loop() -> None:
        while not stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=cfg.trending_refresh_s)
            await engine.refresh_trending()

    async def catalog_loop() -> None:
        while not stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=cfg.catalog_refresh_s)
            if not stop_event.is_set():
                await refresh_catalog()

    tasks = [asyncio.create_task(holder.run(cfg.registry_poll_s, stop_event)), asyncio.create_task(trending_loop())]
    if load_catalog:
        tasks.append(asyncio.create_task(catalog_loop()))
    await server.start()
    await _set_health(health_servicer, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "ranker on %s:%d (metrics %s), model %s",
        cfg.host,
        port,
        metrics_port,
        holder.current.version if holder.current else "none yet",
    )
    return Running(server, port, metrics_port, engine, holder, health_servicer, stop_event, tasks, sink)


async def serve(settings: ServingSettings) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully."""
    import signal

    running = await start(settings)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    log.info("stopping (grace %.1fs)", settings.serving.grace_s)
    await running.stop(settings.serving.grace_s)
