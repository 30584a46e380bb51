"""The JVM half of the job: connector DDL and the windowed pre-aggregations, as SQL text built from config.

Why SQL: per-record Python state costs ~50 µs, a JVM window aggregate ~3 µs. So the windows (micro-windows
per key, HOP windows for trending, the processing-time micro-batches of feature writes) run here, and
Python sees one row per key and window.
"""

from __future__ import annotations

from hybridrec.contract import ARCHIVE_SCHEMA
from streaming.config import StreamingSettings

UDF_CLASS = "io.hybridrec.streaming.ProtoEventTime"
DECODE_CLASS = "io.hybridrec.streaming.ProtoDecode"
EVENT_COLUMNS = ("event_id", "user_id", "item_id", "event_type", "event_type_num", "value", "event_time_ms",
                 "surface", "position", "request_id", "variant", "device", "country")
_SQL_TYPES = {"string": "STRING", "double": "DOUBLE", "int64": "BIGINT", "int32": "INT"}


def interval(ms: int) -> str:
    """A day-to-second interval literal of ``ms`` milliseconds (SECOND alone holds only 2 digits)."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest / 1000:06.3f}' DAY TO SECOND(3)"


def epoch_ms(column: str) -> str:
    """Epoch ms of a TIMESTAMP(3) column: whole minutes (TIMESTAMPDIFF returns INT, so seconds would overflow in
    2038) plus the seconds and the milliseconds. EXTRACT(MILLISECOND) is only the fraction of the second (345
    for 12.345 s): without the seconds term every window end fell back to its minute, live snapshots were
    stamped up to 59 s in the past and the write window dropped them as late."""
    return (f"(CAST(TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', {column}) AS BIGINT) * 60000 "
            f"+ EXTRACT(SECOND FROM {column}) * 1000 + EXTRACT(MILLISECOND FROM {column}))")


END_MS = epoch_ms("window_end")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())


def kafka_source_ddl(name: str, s: StreamingSettings) -> str:
    """Raw interaction records with per-partition watermarks on the event time read by the JVM UDF."""
    cfg = s.streaming
    options = {
        "connector": "kafka", "topic": s.kafka.topics.interactions,
        "properties.bootstrap.servers": s.kafka.bootstrap_servers, "properties.group.id": cfg.group_id,
        "scan.startup.mode": "group-offsets", "properties.auto.offset.reset": "earliest",
        "key.format": "raw", "key.fields": "k", "value.format": "raw", "value.fields-include": "EXCEPT_KEY",
    }
    if cfg.bounded:
        options["scan.bounded.mode"] = "latest-offset"
    skew_ms = s.validation.max_future_skew_s * 1000
    return f"""CREATE TEMPORARY TABLE {name} (
  k BYTES,
  v BYTES,
  rowtime AS TO_TIMESTAMP_LTZ(proto_event_time(v, CAST({skew_ms} AS BIGINT)), 3),
  WATERMARK FOR rowtime AS rowtime - {interval(cfg.max_out_of_orderness_ms)}
) WITH (
  {_with(options)}
)"""


def archive_sink_ddl(name: str, s: StreamingSettings) -> str:
    """Parquet files in Hive partitions event_date/event_hour, committed on checkpoints (exactly once)."""
    # A replay of years of history opens one Parquet writer per hourly partition within a checkpoint interval
    # (ml-latest-small: > 7,000); at Parquet's default 1 MB page buffers the JVM heap ran out and the job died.
    # Small pages and rolling a partition's file after 5 s without records keep that bounded; live traffic
    # touches one or two partitions at a time and is unaffected.
    options = {"connector": "filesystem", "path": s.archive_dir.resolve().as_uri(), "format": "parquet",
               "parquet.compression": "SNAPPY", "sink.rolling-policy.file-size": "256MB",
               "parquet.page.size": "65536", "parquet.dictionary.page.size": "65536",
               "sink.rolling-policy.inactivity-interval": "5 s", "sink.rolling-policy.check-interval": "2 s"}
    columns = ", ".join(f"`{f.name}` {_SQL_TYPES[str(f.type)]}" for f in ARCHIVE_SCHEMA)
    return f"""CREATE TEMPORARY TABLE {name} (
  {columns}, event_date STRING, event_hour STRING
) PARTITIONED BY (event_date, event_hour) WITH (
  {_with(options)}
)"""


def dlq_sink_ddl(name: str, s: StreamingSettings) -> str:
    """Dead letters: the raw key and bytes, the reason and provenance in headers (at least once)."""
    options = {"connector": "kafka", "topic": s.kafka.topics.dlq,
               "properties.bootstrap.servers": s.kafka.bootstrap_servers,
               "key.format": "raw", "key.fields": "k", "value.format": "raw", "value.fields-include": "EXCEPT_KEY",
               "sink.delivery-guarantee": "at-least-once"}
    return f"""CREATE TEMPORARY TABLE {name} (
  k BYTES, v BYTES, headers MAP<STRING, BYTES> METADATA
) WITH (
  {_with(options)}
)"""


def decoded(source: str, s: StreamingSettings) -> str:
    """Every raw record with its decoded columns and ``reason`` (NULL when valid), decoded in the JVM by
    ``ProtoDecode`` with the rules of ``hybridrec.events`` (the source's rowtime and watermark are kept)."""
    v = s.validation
    return f"""SELECT k, v, rowtime AS source_time, d.*
FROM {source}, LATERAL TABLE(proto_decode(k, v, {v.max_payload_bytes}, {v.max_id_length},
    CAST({v.min_event_time_ms} AS BIGINT), CAST({v.max_future_skew_s * 1000} AS BIGINT))) AS d"""


def valid_events(decoded_view: str) -> str:
    columns = ", ".join(f"`{c}`" for c in EVENT_COLUMNS)
    return f"SELECT {columns}, rowtime FROM {decoded_view} WHERE reason IS NULL"


def dlq_insert(sink: str, decoded_view: str, s: StreamingSettings) -> str:
    """Rejected records with the headers of ``hybridrec.kafka.producer.dlq_headers`` (component ``flink``)."""
    def b(expr: str) -> str:
        return f"ENCODE({expr}, 'UTF-8')"

    headers = {"reason": "reason", "detail": "SUBSTRING(detail FROM 1 FOR 1000)",
               "source_topic": _quote(s.kafka.topics.interactions), "component": "'flink'",
               "rejected_at_ms": "CAST(checked_at_ms AS STRING)", "original_size": "CAST(payload_size AS STRING)",
               "sha256": "sha256"}
    entries = ", ".join(f"{_quote(name)}, {b(expr)}" for name, expr in headers.items())
    return f"""INSERT INTO {sink}
SELECT k, v, MAP[{entries}] FROM {decoded_view} WHERE reason IS NOT NULL"""


def archive_insert(sink: str, events: str) -> str:
    fmt = "DATE_FORMAT(TO_TIMESTAMP_LTZ(event_time_ms, 3), '{}')"
    columns = ", ".join(f"`{f.name}`" for f in ARCHIVE_SCHEMA)
    return f"""INSERT INTO {sink}
SELECT {columns}, {fmt.format('yyyy-MM-dd')}, {fmt.format('HH')}
FROM {events}"""


def user_batches(events: str, s: StreamingSettings) -> str:
    """One row per user and event-time micro-window: the window's events as parallel arrays."""
    return f"""SELECT user_id, {END_MS} AS end_ms, ARRAY_AGG(event_time_ms) AS times, ARRAY_AGG(event_id) AS ids,
       ARRAY_AGG(item_id) AS items, ARRAY_AGG(event_type_num) AS types
FROM TABLE(TUMBLE(TABLE {events}, DESCRIPTOR(rowtime), {interval(s.streaming.micro_window_ms)}))
GROUP BY user_id, window_start, window_end"""


def engaged_events(events: str, s: StreamingSettings) -> str:
    types = ", ".join(str(v) for v in s.streaming.engagement_type_values)
    return f"SELECT * FROM {events} WHERE event_type_num IN ({types})"


def item_batches(engaged: str, s: StreamingSettings) -> str:
    """Per item: engagement times per micro-window (popularity, cnt = -1) and HOP-window counts (trending), one
    stream without NULLs (the keyed operator reads ``times`` of every row)."""
    cfg = s.streaming
    return f"""SELECT item_id, {END_MS} AS end_ms, ARRAY_AGG(event_time_ms) AS times, CAST(-1 AS BIGINT) AS cnt
FROM TABLE(TUMBLE(TABLE {engaged}, DESCRIPTOR(rowtime), {interval(cfg.micro_window_ms)}))
GROUP BY item_id, window_start, window_end
UNION ALL
SELECT item_id, {END_MS} AS end_ms, ARRAY[CAST(-1 AS BIGINT)] AS times, COUNT(*) AS cnt
FROM TABLE(HOP(TABLE {engaged}, DESCRIPTOR(rowtime), {interval(cfg.trending_slide_ms)},
               {interval(cfg.trending_window_ms)}))
GROUP BY item_id, window_start, window_end"""


def entity_batches(user_batches_sql: str, item_batches_sql: str) -> str:
    """User and item rows in one stream (``kind`` 'u' or 'i'), so one keyed JVM operator (``EntityFeatures``)
    serves both with one state layout and one checkpointed operator."""
    return f"""SELECT 'u' AS kind, user_id AS entity, end_ms, times, ids, items, types, CAST(-1 AS BIGINT) AS cnt
FROM ({user_batches_sql})
UNION ALL
SELECT 'i' AS kind, item_id AS entity, end_ms, times, CAST(ARRAY[''] AS ARRAY<STRING>),
       CAST(ARRAY[''] AS ARRAY<STRING>), CAST(ARRAY[0] AS ARRAY<INT>), cnt
FROM ({item_batches_sql})"""
