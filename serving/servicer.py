"""The gRPC servicer: proto → validated domain query → engine → proto. Errors of the
:class:`serving.errors.ServingError` hierarchy map to their status here, in one place; anything unexpected
becomes INTERNAL with a logged trace, so no request can take the server down."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb import ranker_pb2_grpc
from serving import requests
from serving.domain import Page, Row, Slot
from serving.engine import Engine
from serving.errors import ServingError

log = logging.getLogger("hybridrec.serving")
R = TypeVar("R")


def _add_items(items: Any, slots: list[Slot]) -> None:
    """Append to a repeated ``Item`` field in place: ``add`` builds each item inside its parent, ~30 % less CPU
    than building 100 free-standing messages and copying them in (measured with the upb runtime). ``explored``
    is passed only when true: each keyword costs upb ~0.1–0.2 µs, and false is the field's default anyway."""
    add = items.add
    for s in slots:
        if s.explored:
            add(item_id=s.item_id, score=s.score, reason=s.reason, explored=True, propensity=s.propensity)
        else:
            add(item_id=s.item_id, score=s.score, reason=s.reason, propensity=s.propensity)


def _fill_row(out: pb.Row, r: Row) -> pb.Row:
    out.row_id, out.type, out.title, out.reason = r.row_id, requests.ROW_TYPE[r.kind], r.title, r.reason
    _add_items(out.items, r.items)
    return out


def _row(r: Row) -> pb.Row:
    return _fill_row(pb.Row(), r)


def homepage_response(page: Page) -> pb.HomepageResponse:
    resp = pb.HomepageResponse(
        request_id=page.request_id,
        model_version=page.model_version,
        variant=page.variant,
        degraded=page.degraded,
        personalized=page.personalized,
    )
    for r in page.rows:
        _fill_row(resp.rows.add(), r)
    return resp


class RankerServicer(ranker_pb2_grpc.RankerServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cfg = engine.cfg
        self._metrics = engine.metrics

    async def _guarded(self, method: str, context: grpc.aio.ServicerContext, call: Callable[[], Awaitable[R]]) -> R:
        t0 = time.perf_counter()
        try:
            return await call()
        except ServingError as exc:
            self._metrics.errors.labels(method=method, code=exc.status.name).inc()
            await context.abort(exc.status, str(exc))
        except Exception:
            log.exception("%s failed", method)
            self._metrics.errors.labels(method=method, code="INTERNAL").inc()
            await context.abort(grpc.StatusCode.INTERNAL, f"{method} failed unexpectedly; see the server log")
        finally:
            self._metrics.child(self._metrics.request, "method", method).observe(time.perf_counter() - t0)
        raise AssertionError("unreachable: abort raises")

    async def GetHomepage(self, request: pb.HomepageRequest, context: grpc.aio.ServicerContext) -> pb.HomepageResponse:
        async def call() -> pb.HomepageResponse:
            q = requests.homepage(request, context.time_remaining(), self._cfg)
            return homepage_response(await self._engine.homepage(q))

        return await self._guarded("GetHomepage", context, call)

    async def GetRow(self, request: pb.RowRequest, context: grpc.aio.ServicerContext) -> pb.RowResponse:
        async def call() -> pb.RowResponse:
            q = requests.row(request, context.time_remaining(), self._cfg)
            page = await self._engine.homepage(q)
            return pb.RowResponse(
                request_id=page.request_id,
                row=_row(page.rows[0]) if page.rows else None,
                model_version=page.model_version,
                variant=page.variant,
                degraded=page.degraded,
                personalized=page.personalized,
            )

        return await self._guarded("GetRow", context, call)

    async def GetSimilarItems(
        self, request: pb.SimilarItemsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SimilarItemsResponse:
        async def call() -> pb.SimilarItemsResponse:
            q = requests.similar(request, context.time_remaining(), self._cfg)
            version, items, degraded = await self._engine.similar(q)
            resp = pb.SimilarItemsResponse(
                request_id=q.request_id, item_id=q.item_id, model_version=version, degraded=degraded
            )
            _add_items(resp.items, items)
            return resp

        return await self._guarded("GetSimilarItems", context, call)
