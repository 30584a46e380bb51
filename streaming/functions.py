"""The job's Python functions: decode/validate, the per-user and per-item state, and the online-store writer.

Counting and windowing run in the JVM (see ``streaming/sql.py``); these functions receive one row per key and
micro-window, so Python state is touched once per key and window, not once per event.
"""

from __future__ import annotations

import marshal
import time
import zlib
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, MapFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from hybridrec.contract import ITEM_FRESH_VIEW, USER_FRESH_VIEW
from hybridrec_pb.events_pb2 import Device, EventType
from streaming import logic
from streaming.config import StreamingSettings
from streaming.feast_writer import FeastHashEncoder, latest_per_entity

SNAPSHOT_TYPE = Types.ROW_NAMED(["view", "shard", "entity_id", "version_ms", "payload"], [
    Types.STRING(), Types.INT(), Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])

USER_BATCH_TYPE = Types.ROW_NAMED(["user_id", "end_ms", "times", "ids", "items", "types"], [
    Types.STRING(), Types.LONG(), Types.BASIC_ARRAY(Types.LONG()), Types.BASIC_ARRAY(Types.STRING()),
    Types.BASIC_ARRAY(Types.STRING()), Types.BASIC_ARRAY(Types.INT())])
ITEM_BATCH_TYPE = Types.ROW_NAMED(["item_id", "end_ms", "times", "cnt"], [
    Types.STRING(), Types.LONG(), Types.BASIC_ARRAY(Types.LONG()), Types.LONG()])

ENTITY_BATCH_TYPE = Types.ROW_NAMED(["kind", "entity", "end_ms", "times", "ids", "items", "types", "cnt"], [
    Types.STRING(), Types.STRING(), Types.LONG(), Types.BASIC_ARRAY(Types.LONG()), Types.BASIC_ARRAY(Types.STRING()),
    Types.BASIC_ARRAY(Types.STRING()), Types.BASIC_ARRAY(Types.INT()), Types.LONG()])

_TYPE_NAMES = {v: EventType.Name(v) for v in EventType.values()}
_DEVICE_NAMES = {v: Device.Name(v) for v in Device.values()}


def shard_of(entity: str, shards: int) -> int:
    return zlib.crc32(entity.encode()) % shards


class WindowRow(MapFunction):
    """Identity with a Python-declared type: pyflink cannot key a stream whose type came from SQL with ARRAY
    columns (it cannot convert that type back), a declared one it can."""

    def map(self, value: Row) -> Row:
        return value


class _Versioned(KeyedProcessFunction):
    """State ``(domain state as tuples, last emitted version)`` in one marshalled value: one read and one write
    per row."""

    VIEW = ""

    def __init__(self, settings: StreamingSettings) -> None:
        self._settings = settings
        self._shards = settings.streaming.write_shards

    def open(self, runtime_context: RuntimeContext) -> None:
        self._encoder = FeastHashEncoder(self._settings, self.VIEW)
        # PICKLED_BYTE_ARRAY, not PRIMITIVE_ARRAY(BYTE): thread mode cannot convert a missing byte[] (None).
        self._state = runtime_context.get_state(ValueStateDescriptor("state", Types.PICKLED_BYTE_ARRAY()))
        self._updates = runtime_context.get_metrics_group().counter("snapshots_emitted")

    def _load(self, cls: Any) -> tuple[Any, int]:
        stored = self._state.value()
        if stored is None:
            return cls(), 0
        state, version = marshal.loads(stored)
        return cls.from_tuple(state), version

    def _emit(self, view: str, entity: str, state: Any, version: int, prev: int, features: dict) -> Row:
        version = max(version, prev + 1)
        self._state.update(marshal.dumps((state.to_tuple(), version)))
        self._updates.inc()
        return Row(view, shard_of(entity, self._shards), entity, version,
                   self._encoder.encode(entity, version, features))


class UserFeatures(_Versioned):
    """Per user: fold a micro-window of events into the state, emit a ``user_fresh`` snapshot."""

    VIEW = USER_FRESH_VIEW

    def open(self, runtime_context: RuntimeContext) -> None:
        from streaming.catalog_cache import CatalogCache

        super().open(runtime_context)
        cfg = self._settings.streaming
        self._params = logic.UserParams(cfg.recent_n, cfg.session_gap_ms, cfg.taste_half_life_ms,
                                        cfg.counts_short_ms, cfg.counts_long_ms,
                                        frozenset(cfg.engagement_type_values), cfg.hidden_n)
        self._catalog = CatalogCache(self._settings.kafka, cfg.catalog_refresh_ms)

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Any:
        user, end_ms, times, ids, items, types = value
        events = sorted(logic.Event(t, i, it, k) for t, i, it, k in zip(times, ids, items, types, strict=True))
        state, prev = self._load(logic.UserState)
        logic.apply_user_events(state, events, self._params, self._catalog.vector)
        yield self._emit(USER_FRESH_VIEW, user, state, end_ms, prev,
                         logic.user_features(state, self._params))


class ItemFeatures(_Versioned):
    """Per item: add a micro-window of engagement times (popularity) or a fired HOP window (trending)."""

    VIEW = ITEM_FRESH_VIEW

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Any:
        item, end_ms, times, count = value
        state, prev = self._load(logic.ItemState)
        if count < 0:
            logic.add_item_events(state, times, self._settings.streaming.popularity_half_life_ms)
        else:
            logic.set_item_trending(state, end_ms, count)
        yield self._emit(ITEM_FRESH_VIEW, item, state, end_ms, prev, logic.item_features(state))


class WriteFeatures(MapFunction):
    """One event-time micro-batch of encoded snapshots (one view, one shard) → two Redis pipelines.

    The write is synchronous, so a batch is in Redis before the checkpoint barrier that follows it passes:
    what a completed checkpoint covers is never lost, and what is replayed after a restart is skipped by
    Feast's timestamp check (see ``streaming/feast_writer.py``)."""

    def __init__(self, settings: StreamingSettings) -> None:
        self._settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        from streaming.feast_writer import RedisHashWriter

        self._writer = RedisHashWriter(self._settings, self._settings.streaming.write_batch_size)
        group = runtime_context.get_metrics_group()
        self._written = group.counter("feature_rows_written")
        # A Java counter holding the current value, not a Python gauge: the reporter reads gauges from its own
        # thread, and calling into the embedded interpreter from there crashed the JVM (SIGSEGV in pemja).
        # Flink's Prometheus reporter exports counters as gauges anyway.
        self._lag = group.counter("event_to_write_lag_ms")
        self._lag_ms = 0

    def map(self, value: Row) -> int:
        view, entities, versions, payloads = value
        latest = latest_per_entity(entities, versions, payloads)
        n = self._writer.write(view, latest)
        self._written.inc(n)
        lag = int(time.time() * 1000) - max(versions)
        if lag >= self._lag_ms:
            self._lag.inc(lag - self._lag_ms)
        else:
            self._lag.dec(self._lag_ms - lag)
        self._lag_ms = lag
        return n

    def close(self) -> None:
        self._writer.close()


class EntityFeatures(KeyedProcessFunction):
    """User and item features in one keyed operator (key = kind + entity): rows of kind 'u' go to
    :class:`UserFeatures`, 'i' to :class:`ItemFeatures`, which share this operator's state handle."""

    def __init__(self, settings: StreamingSettings) -> None:
        self._user = UserFeatures(settings)
        self._item = ItemFeatures(settings)

    def open(self, runtime_context: RuntimeContext) -> None:
        self._user.open(runtime_context)
        self._item.open(runtime_context)
        self._item._updates = self._user._updates  # one snapshots_emitted counter per operator

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Any:
        kind, entity, end_ms, times, ids, items, types, cnt = value
        if kind == "u":
            return self._user.process_element(Row(entity, end_ms, times, ids, items, types), ctx)
        return self._item.process_element(Row(entity, end_ms, times, cnt), ctx)
