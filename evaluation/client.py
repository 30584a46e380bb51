"""A plain gRPC client of the ranker, as a homepage backend would call it, timing every call."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb import ranker_pb2_grpc


@dataclass
class Call:
    """One call's outcome: the items (row order, then slot order), its latency and what was degraded."""

    items: list[str]
    latency_ms: float
    degraded: list[str] = field(default_factory=list)
    model_version: str = ""
    error: str = ""
    reasons: list[str] = field(default_factory=list)  # each item's reason (what brought it), same order


class RankerClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.channel = grpc.insecure_channel(f"{host}:{port}")
        self.stub = ranker_pb2_grpc.RankerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.latencies_ms: list[float] = []

    def serving(self) -> bool:
        try:
            got = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError:
            return False
        return got.status == health_pb2.HealthCheckResponse.SERVING

    def homepage(
        self, user_id: str, *, time_ms: int = 0, deadline_ms: float = 250.0, personalized: bool = True
    ) -> tuple[pb.HomepageResponse | None, Call]:
        req = pb.HomepageRequest(
            user_id=user_id,
            context=pb.RequestContext(time_ms=time_ms),
            personalized=personalized,
            request_id=uuid.uuid4().hex,
        )
        resp, call = self._invoke(self.stub.GetHomepage, req, deadline_ms)
        if resp is not None:
            call.items = [i.item_id for r in resp.rows for i in r.items]
        return resp, call

    def row(
        self,
        user_id: str,
        row_type: int,
        n_items: int,
        *,
        time_ms: int = 0,
        deadline_ms: float = 250.0,
        personalized: bool = True,
    ) -> Call:
        req = pb.RowRequest(
            user_id=user_id,
            context=pb.RequestContext(time_ms=time_ms),
            row_type=row_type,
            n_items=n_items,
            personalized=personalized,
            request_id=uuid.uuid4().hex,
        )
        resp, call = self._invoke(self.stub.GetRow, req, deadline_ms)
        if resp is not None:
            call.items = [i.item_id for i in resp.row.items]
        return call

    def rows(
        self,
        queries: Sequence[tuple[str, int]],
        row_type: int,
        n_items: int,
        *,
        deadline_ms: float = 1000.0,
        in_flight: int = 16,
    ) -> list[Call]:
        """One row per ``(user_id, time_ms)``, at most ``in_flight`` calls at a time (the ranker serves them
        concurrently; one after another, the round trips would dominate a replay's pauses).

        The request id (which seeds the ranker's exploration draws) derives from the query, so a replay repeats
        its draws from run to run, and two modes asked for the same target share them (common random numbers:
        their difference is the modes', not the dice's)."""
        out: list[Call] = []
        for s in range(0, len(queries), in_flight):
            started = []
            for user_id, time_ms in queries[s : s + in_flight]:
                req = pb.RowRequest(
                    user_id=user_id,
                    context=pb.RequestContext(time_ms=time_ms),
                    row_type=row_type,
                    n_items=n_items,
                    request_id=query_request_id(user_id, time_ms),
                )
                started.append((time.perf_counter(), self.stub.GetRow.future(req, timeout=deadline_ms / 1000)))
            for t0, future in started:
                try:
                    resp = future.result()
                except grpc.RpcError as exc:
                    call = Call([], 0.0, error=f"{exc.code().name}: {exc.details()}")  # type: ignore[attr-defined]
                else:
                    items = resp.row.items
                    call = Call(
                        [i.item_id for i in items],
                        0.0,
                        list(resp.degraded),
                        resp.model_version,
                        reasons=[i.reason for i in items],
                    )
                call.latency_ms = (time.perf_counter() - t0) * 1000
                self.latencies_ms.append(call.latency_ms)
                out.append(call)
        return out

    def _invoke(self, rpc: Any, req: Any, deadline_ms: float) -> tuple[Any, Call]:
        """One timed call; a failed call is a :class:`Call` with its status, never an exception."""
        t0 = time.perf_counter()
        try:
            resp = rpc(req, timeout=deadline_ms / 1000)
        except grpc.RpcError as exc:
            resp, call = None, Call([], 0.0, error=f"{exc.code().name}: {exc.details()}")  # type: ignore[attr-defined]
        else:
            call = Call([], 0.0, list(resp.degraded), resp.model_version)
        call.latency_ms = (time.perf_counter() - t0) * 1000
        self.latencies_ms.append(call.latency_ms)
        return resp, call

    def close(self) -> None:
        self.channel.close()


def query_request_id(user_id: str, time_ms: int) -> str:
    """A request id that is a function of the query (a fixed-length digest: user ids may be long)."""
    return hashlib.blake2b(f"{user_id}@{time_ms}".encode(), digest_size=16).hexdigest()


def render_homepage(resp: pb.HomepageResponse, titles: Mapping[str, str], per_row: int = 5) -> list[str]:
    """The page as text: one line per row, its title then its first items' titles."""
    lines = []
    for row in resp.rows:
        names = ", ".join(titles.get(i.item_id, i.item_id) + ("*" if i.explored else "") for i in row.items[:per_row])
        lines.append(f"  {row.title}: {names}")
    if resp.degraded:
        lines.append(f"  (degraded: {', '.join(resp.degraded)})")
    return lines


def page_rows(resp: pb.HomepageResponse, titles: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """(row title, item titles) of every row, for the report."""
    return [(r.title, [titles.get(i.item_id, i.item_id) for i in r.items]) for r in resp.rows]
