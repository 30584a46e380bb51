"""The job's one Python function: the online-store writer, called once per event-time write batch.

Decoding, windows and the per-user/per-item feature state run in the JVM (``streaming/sql.py``,
``streaming/java/…/EntityFeatures.java``); the writer receives one row per view, shard and write window holding
the encoded snapshots, so Python runs once per batch, never per event or key.
"""

from __future__ import annotations

import time

from pyflink.common import Row
from pyflink.datastream import MapFunction, RuntimeContext

from streaming.config import StreamingSettings
from streaming.feast_writer import latest_per_entity


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
