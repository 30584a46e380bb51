"""The wired server on loopback with in-memory backends: health, graceful stop, error mapping."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybridrec.config import with_section
from hybridrec.registry import ModelRegistry
from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb import ranker_pb2_grpc
from serving.config import ServingSettings
from serving.features.memory import MemoryFeatures
from serving.server import start
from serving.sink.memory import MemorySink
from tests.support import serving_kit as kit


def _settings(tmp: Path) -> ServingSettings:
    return ServingSettings(
        paths={"registry_dir": tmp / "registry"},
        serving={"port": 0, "metrics_port": None, "default_deadline_ms": 5000, "budgets": {"features_max_ms": 3000}},
    )


def test_graceful_stop_finishes_in_flight_calls_and_reports_not_serving(tmp_path: Path) -> None:
    w = kit.world(n_users=10, n_items=40)
    kit.publish(ModelRegistry(tmp_path / "registry"), w, tmp_path)
    feats = MemoryFeatures(users={"u1": kit.heavy_user(w)}, items=w.item_features(), delay_s=0.5)

    async def scenario() -> tuple[pb.HomepageResponse, int, int]:
        running = await start(
            _settings(tmp_path), features=feats, sink=MemorySink(), catalog=w.catalog(), load_catalog=False
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        health = health_pb2_grpc.HealthStub(channel)
        before = (await health.Check(health_pb2.HealthCheckRequest(service=""))).status
        call = asyncio.ensure_future(
            ranker_pb2_grpc.RankerStub(channel).GetHomepage(pb.HomepageRequest(user_id="u1"), timeout=5)
        )
        await asyncio.sleep(0.2)  # the call is waiting on the (slow) feature store
        stopping = asyncio.create_task(running.stop(grace_s=3.0))
        await asyncio.sleep(0.05)
        after = running.health._server_status[""]
        page = await call
        await stopping
        await channel.close()
        return page, before, after

    page, before, after = asyncio.run(scenario())
    assert before == health_pb2.HealthCheckResponse.SERVING
    assert after == health_pb2.HealthCheckResponse.NOT_SERVING
    assert list(page.degraded) == [] and page.rows, "the in-flight call completed normally"


def test_unexpected_failure_is_internal_and_the_server_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = kit.world(n_users=10, n_items=40)
    kit.publish(ModelRegistry(tmp_path / "registry"), w, tmp_path)

    async def scenario() -> tuple[grpc.StatusCode, pb.SimilarItemsResponse]:
        running = await start(
            _settings(tmp_path), features=MemoryFeatures(), sink=MemorySink(), catalog=w.catalog(), load_catalog=False
        )
        stub = ranker_pb2_grpc.RankerStub(channel := grpc.aio.insecure_channel(f"127.0.0.1:{running.port}"))
        original = running.engine.homepage

        async def broken(q: object) -> object:
            raise RuntimeError("bug")

        monkeypatch.setattr(running.engine, "homepage", broken)
        try:
            await stub.GetHomepage(pb.HomepageRequest(user_id="u1"), timeout=2)
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        monkeypatch.setattr(running.engine, "homepage", original)
        similar = await stub.GetSimilarItems(pb.SimilarItemsRequest(item_id="i1", n_items=3), timeout=2)
        await channel.close()
        await running.stop(0.5)
        return code, similar

    code, similar = asyncio.run(scenario())
    assert code == grpc.StatusCode.INTERNAL
    assert len(similar.items) == 3


def test_stop_closes_the_metrics_port(tmp_path: Path) -> None:
    w = kit.world(n_users=5, n_items=20)
    base = _settings(tmp_path)
    settings = with_section(base, "serving", metrics_port=0)

    async def scenario() -> int:
        running = await start(
            settings,
            features=MemoryFeatures(users={}, items=w.item_features()),
            sink=MemorySink(),
            catalog=w.catalog(),
            load_catalog=False,
        )
        assert running.metrics_port
        with socket.create_connection(("127.0.0.1", running.metrics_port), timeout=2):
            pass  # serving /metrics while running
        await running.stop(grace_s=0.5)
        return running.metrics_port

    port = asyncio.run(scenario())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
