"""The job's Python functions: decode/validate, the per-user and per-item state, and the online-store writer.

Counting and windowing run in the JVM (see ``streaming/sql.py``); these functions receive one row per key and
micro-window, so Python state is touched once per key and window, not once per event.
"""

from __future__ import annotations

import pickle
import time
import zlib
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, MapFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from hybridrec.contract import ITEM_FRESH_VIEW, USER_FRESH_VIEW
from hybridrec.events import InvalidEvent, decode
from hybridrec.kafka.producer import dlq_headers
from hybridrec_pb.events_pb2 import Device, EventType
from streaming import logic
from streaming.config import StreamingSettings
from streaming.feast_writer import encode_snapshot, latest_per_entity

EVENT_FIELDS = ["event_id", "user_id", "item_id", "event_type", "event_type_num", "value", "event_time_ms",
                "surface", "position", "request_id", "variant", "device", "country"]
EVENT_TYPE = Types.ROW_NAMED(EVENT_FIELDS, [
    Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.INT(), Types.DOUBLE(), Types.LONG(),
    Types.STRING(), Types.INT(), Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING()])
DLQ_TYPE = Types.ROW_NAMED(["k", "v", "headers"], [
    Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE()),
    Types.MAP(Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE()))])
DLQ_TAG = OutputTag("dlq", DLQ_TYPE)
SNAPSHOT_TYPE = Types.ROW_NAMED(["view", "shard", "entity_id", "version_ms", "payload"], [
    Types.STRING(), Types.INT(), Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])

USER_BATCH_TYPE = Types.ROW_NAMED(["user_id", "end_ms", "times", "ids", "items", "types"], [
    Types.STRING(), Types.LONG(), Types.BASIC_ARRAY(Types.LONG()), Types.BASIC_ARRAY(Types.STRING()),
    Types.BASIC_ARRAY(Types.STRING()), Types.BASIC_ARRAY(Types.INT())])
ITEM_BATCH_TYPE = Types.ROW_NAMED(["item_id", "end_ms", "times", "cnt"], [
    Types.STRING(), Types.LONG(), Types.BASIC_ARRAY(Types.LONG()), Types.LONG()])

_TYPE_NAMES = {v: EventType.Name(v) for v in EventType.values()}
_DEVICE_NAMES = {v: Device.Name(v) for v in Device.values()}


def shard_of(entity: str, shards: int) -> int:
    return zlib.crc32(entity.encode()) % shards


class WindowRow(MapFunction):
    """Identity with a Python-declared type: pyflink cannot key a stream whose type came from SQL with ARRAY
    columns (it cannot convert that type back), a declared one it can."""

    def map(self, value: Row) -> Row:
        return value


class DecodeEvents(ProcessFunction):
    """Raw Kafka record → validated event row; a rejected record goes to the DLQ side output with its reason."""

    def __init__(self, settings: StreamingSettings) -> None:
        self._validation = settings.validation
        self._topic = settings.kafka.topics.interactions

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group()
        self._valid = group.counter("events_valid")
        self._rejected = group.counter("events_dead_lettered")

    def process_element(self, value: Row, ctx: ProcessFunction.Context) -> Any:
        key, payload = value[0], value[1]
        now = int(time.time() * 1000)
        try:
            e = decode(payload, self._validation, key=key, now_ms=now)
        except InvalidEvent as exc:
            self._rejected.inc()
            headers = dict(dlq_headers(exc.reason, exc.detail, self._topic, "flink", payload, now))
            yield DLQ_TAG, Row(k=key, v=payload, headers=headers)
            return
        self._valid.inc()
        yield Row(e.event_id, e.user_id, e.item_id, _TYPE_NAMES[e.event_type], e.event_type, e.value,
                  e.event_time_ms, e.surface, e.position, e.request_id, e.variant, _DEVICE_NAMES[e.device],
                  e.country)


class _Versioned(KeyedProcessFunction):
    """State ``(domain state, last emitted version)`` in one pickled value: one read and one write per row."""

    def __init__(self, settings: StreamingSettings) -> None:
        self._settings = settings
        self._shards = settings.streaming.write_shards

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(ValueStateDescriptor("state", Types.PICKLED_BYTE_ARRAY()))
        self._updates = runtime_context.get_metrics_group().counter("snapshots_emitted")

    def _load(self, fresh: Any) -> tuple[Any, int]:
        stored = self._state.value()
        return (fresh, 0) if stored is None else pickle.loads(stored)

    def _emit(self, view: str, entity: str, state: Any, version: int, prev: int, features: dict) -> Row:
        version = max(version, prev + 1)
        self._state.update(pickle.dumps((state, version), protocol=pickle.HIGHEST_PROTOCOL))
        self._updates.inc()
        return Row(view, shard_of(entity, self._shards), entity, version, encode_snapshot(features))


class UserFeatures(_Versioned):
    """Per user: fold a micro-window of events into the state, emit a ``user_fresh`` snapshot."""

    def open(self, runtime_context: RuntimeContext) -> None:
        from streaming.catalog_cache import CatalogCache

        super().open(runtime_context)
        cfg = self._settings.streaming
        self._params = logic.UserParams(cfg.recent_n, cfg.session_gap_ms, cfg.taste_half_life_ms,
                                        cfg.counts_short_ms, cfg.counts_long_ms,
                                        frozenset(cfg.engagement_type_values))
        self._catalog = CatalogCache(self._settings.kafka, cfg.catalog_refresh_ms)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Any:
        user, end_ms, times, ids, items, types = value
        events = sorted(logic.Event(t, i, it, k) for t, i, it, k in zip(times, ids, items, types, strict=True))
        state, prev = self._load(logic.UserState())
        logic.apply_user_events(state, events, self._params, self._catalog.vector)
        yield self._emit(USER_FRESH_VIEW, user, state, end_ms, prev,
                         logic.user_features(state, self._params))


class ItemFeatures(_Versioned):
    """Per item: add a micro-window of engagement times (popularity) or a fired HOP window (trending)."""

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Any:
        item, end_ms, times, count = value
        state, prev = self._load(logic.ItemState())
        if count < 0:
            logic.add_item_events(state, times, self._settings.streaming.popularity_half_life_ms)
        else:
            logic.set_item_trending(state, end_ms, count)
        yield self._emit(ITEM_FRESH_VIEW, item, state, end_ms, prev, logic.item_features(state))


class WriteFeatures(MapFunction):
    """One processing-time micro-batch of snapshots (one view, one shard) → one set of Redis pipelines.

    The write is synchronous, so a batch is in Redis before the checkpoint barrier that follows it passes:
    what a completed checkpoint covers is never lost, and what is replayed after a restart is skipped by
    Feast's timestamp check (see ``streaming/feast_writer.py``)."""

    def __init__(self, settings: StreamingSettings) -> None:
        self._settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        from streaming.feast_writer import FeastOnlineWriter

        self._writer = FeastOnlineWriter(self._settings, self._settings.streaming.write_batch_size)
        group = runtime_context.get_metrics_group()
        self._written = group.counter("feature_rows_written")
        self._lag_ms = 0
        group.gauge("event_to_write_lag_ms", lambda: self._lag_ms)

    def map(self, value: Row) -> int:
        view, entities, versions, payloads = value
        latest = latest_per_entity(entities, versions, payloads)
        n = self._writer.write(view, latest)
        self._written.inc(n)
        self._lag_ms = int(time.time() * 1000) - max(versions)
        return n

    def close(self) -> None:
        self._writer.close()
