"""Validation at the edge: protobuf requests to domain queries, or :class:`InvalidRequest` naming the field,
the value and what is allowed. Nothing past this module sees an unchecked value."""

from __future__ import annotations

import time
import uuid

from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb.events_pb2 import Device
from serving.config import ServingConfig
from serving.domain import Context, HomepageQuery, RowKind, SimilarQuery
from serving.errors import DeadlinePassed, InvalidRequest

ROW_KIND = {
    pb.FOR_YOU: RowKind.FOR_YOU,
    pb.BECAUSE_YOU_WATCHED: RowKind.BECAUSE_YOU_WATCHED,
    pb.TRENDING: RowKind.TRENDING,
    pb.TOP_GENRE: RowKind.TOP_GENRE,
    pb.POPULAR: RowKind.POPULAR,
}
ROW_TYPE = {v: k for k, v in ROW_KIND.items()}
# Device value → name, once: the enum wrapper's values() builds a list and Name() searches, per request.
DEVICE_NAME = {v: Device.Name(v) for v in Device.values()}


def _id(name: str, value: str, cfg: ServingConfig, *, required: bool) -> str:
    if not value.strip():
        if required:
            raise InvalidRequest(f"{name} is empty")
        return ""
    if len(value) > cfg.max_id_length:
        raise InvalidRequest(f"{name} is {len(value)} characters long; the limit is {cfg.max_id_length}")
    if value != value.strip() or any(ord(ch) < 32 for ch in value):
        raise InvalidRequest(f"{name} has surrounding whitespace or control characters")
    return value


def _count(name: str, value: int, default: int, limit: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= limit:
        raise InvalidRequest(f"{name} must be between 1 and {limit} (0 = default {default}), got {value}")
    return value


def deadline_s(time_remaining: float | None, cfg: ServingConfig) -> float:
    """The client's deadline in seconds (the default when it sent none); absurd ones are rejected.

    What arrives is the time *left*: the server cannot tell a client's too-short deadline from a call that
    queued under overload, so too little left is DEADLINE_EXCEEDED (the client's own deadline expires anyway),
    not INVALID_ARGUMENT."""
    if time_remaining is None:
        return cfg.default_deadline_ms / 1000.0
    ms = time_remaining * 1000.0
    if ms < cfg.min_deadline_ms:
        raise DeadlinePassed(
            f"{max(ms, 0.0):.1f} ms of the deadline left when the call was served, below the "
            f"minimum of {cfg.min_deadline_ms:g} ms (server overloaded, or the deadline too short)"
        )
    if ms > cfg.max_deadline_ms:
        raise InvalidRequest(f"deadline of {ms:.0f} ms exceeds the maximum of {cfg.max_deadline_ms:g} ms")
    return time_remaining


def context(ctx: pb.RequestContext, cfg: ServingConfig, now_ms: int) -> Context:
    name = DEVICE_NAME.get(ctx.device)
    if name is None:
        raise InvalidRequest(f"context.device {ctx.device} is not a known Device value")
    country = ctx.country
    if country and (len(country) != 2 or not country.isalpha() or not country.isupper()):
        raise InvalidRequest(f"context.country {country!r} is not an ISO 3166-1 alpha-2 code")
    t = ctx.time_ms or now_ms
    if abs(t - now_ms) > cfg.max_clock_skew_ms:
        raise InvalidRequest(
            f"context.time_ms {ctx.time_ms} is more than {cfg.max_clock_skew_ms} ms from server time {now_ms}"
        )
    return Context(name if ctx.device else "", country, t)


def _request_id(value: str, cfg: ServingConfig) -> str:
    return _id("request_id", value, cfg, required=False) or uuid.uuid4().hex


def homepage(
    req: pb.HomepageRequest, time_remaining: float | None, cfg: ServingConfig, now_ms: int | None = None
) -> HomepageQuery:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    personalized = req.personalized if req.HasField("personalized") else True
    return HomepageQuery(
        user_id=_id("user_id", req.user_id, cfg, required=personalized),
        context=context(req.context, cfg, now_ms),
        n_rows=_count("n_rows", req.n_rows, cfg.default_rows, cfg.max_rows),
        items_per_row=_count("items_per_row", req.items_per_row, cfg.default_items_per_row, cfg.max_items_per_row),
        personalized=personalized,
        request_id=_request_id(req.request_id, cfg),
        deadline_s=deadline_s(time_remaining, cfg),
    )


def row(
    req: pb.RowRequest, time_remaining: float | None, cfg: ServingConfig, now_ms: int | None = None
) -> HomepageQuery:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    kind = ROW_KIND.get(req.row_type)
    if kind is None:
        raise InvalidRequest(f"row_type {req.row_type} is not one of {sorted(pb.RowType.keys()[1:])}")
    personalized = req.personalized if req.HasField("personalized") else True
    if kind.profiling and not personalized:
        raise InvalidRequest(
            f"row_type {pb.RowType.Name(req.row_type)} is built from the user's history; it "
            "cannot be served with personalized=false"
        )
    return HomepageQuery(
        user_id=_id("user_id", req.user_id, cfg, required=personalized),
        context=context(req.context, cfg, now_ms),
        n_rows=1,
        items_per_row=_count("n_items", req.n_items, cfg.default_items_per_row, cfg.max_items_per_row),
        personalized=personalized,
        request_id=_request_id(req.request_id, cfg),
        deadline_s=deadline_s(time_remaining, cfg),
        only=kind,
    )


def similar(req: pb.SimilarItemsRequest, time_remaining: float | None, cfg: ServingConfig) -> SimilarQuery:
    return SimilarQuery(
        item_id=_id("item_id", req.item_id, cfg, required=True),
        n_items=_count("n_items", req.n_items, cfg.default_items_per_row, cfg.max_items_per_row),
        request_id=_request_id(req.request_id, cfg),
        deadline_s=deadline_s(time_remaining, cfg),
    )
