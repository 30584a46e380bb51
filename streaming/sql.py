"""The SQL half of the job, as text built from config: the connectors (Kafka source, Parquet archive, dead-letter
topic), decoding, and the routing of every valid event to the fresh views that read it.

Per-key feature state is not SQL: the JVM operator ``FreshFeatures`` folds each event in on arrival
(``streaming/java_features.py``). SQL windows would fire only on the watermark.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybridrec.contract import ARCHIVE_SCHEMA
from hybridrec.fresh_features import EVERY_EVENT, FreshView
from hybridrec_pb.events_pb2 import EventType
from streaming.config import StreamingSettings

EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "item_id",
    "event_type",
    "event_type_num",
    "value",
    "event_time_ms",
    "surface",
    "position",
    "request_id",
    "variant",
    "device",
    "country",
)
_SQL_TYPES = {"string": "STRING", "double": "DOUBLE", "int64": "BIGINT", "int32": "INT"}


def interval(ms: int) -> str:
    """A day-to-second interval literal of ``ms`` milliseconds (SECOND alone holds only 2 digits)."""
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest / 1000:06.3f}' DAY TO SECOND(3)"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())


def kafka_source_ddl(name: str, s: StreamingSettings) -> str:
    """Raw interaction records with per-partition watermarks on the event time read by the JVM UDF."""
    cfg = s.streaming
    options = {
        "connector": "kafka",
        "topic": s.kafka.topics.interactions,
        "properties.bootstrap.servers": s.kafka.bootstrap_servers,
        "properties.group.id": cfg.group_id,
        "scan.startup.mode": "group-offsets",
        "properties.auto.offset.reset": "earliest",
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
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
    options = {
        "connector": "filesystem",
        "path": s.archive_dir.resolve().as_uri(),
        "format": "parquet",
        "parquet.compression": "SNAPPY",
        "sink.rolling-policy.file-size": "256MB",
        "parquet.page.size": "65536",
        "parquet.dictionary.page.size": "65536",
        "sink.rolling-policy.inactivity-interval": "5 s",
        "sink.rolling-policy.check-interval": "2 s",
    }
    columns = ", ".join(f"`{f.name}` {_SQL_TYPES[str(f.type)]}" for f in ARCHIVE_SCHEMA)
    return f"""CREATE TEMPORARY TABLE {name} (
  {columns}, event_date STRING, event_hour STRING
) PARTITIONED BY (event_date, event_hour) WITH (
  {_with(options)}
)"""


def dlq_sink_ddl(name: str, s: StreamingSettings) -> str:
    """Dead letters: the raw key and bytes, the reason and provenance in headers (at least once)."""
    options = {
        "connector": "kafka",
        "topic": s.kafka.topics.dlq,
        "properties.bootstrap.servers": s.kafka.bootstrap_servers,
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
    }
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


REJECTED_COLUMNS = "k, v, reason, detail, checked_at_ms, payload_size, sha256"
"""What a dead letter is made of: the raw record and the verdict (decoder rejects and late events alike)."""


def rejected(decoded_view: str, late_view: str) -> str:
    """Records the decoder rejected and events too late for their entity, in one stream for the dead-letter sink."""
    return f"""SELECT {REJECTED_COLUMNS} FROM {decoded_view} WHERE reason IS NOT NULL
UNION ALL
SELECT {REJECTED_COLUMNS} FROM {late_view}"""


def dlq_insert(sink: str, rejected_view: str, s: StreamingSettings) -> str:
    """Dead letters with the headers of ``hybridrec.kafka.producer.dlq_headers`` (component ``flink``)."""

    def b(expr: str) -> str:
        return f"ENCODE({expr}, 'UTF-8')"

    headers = {
        "reason": "reason",
        "detail": "SUBSTRING(detail FROM 1 FOR 1000)",
        "source_topic": _quote(s.kafka.topics.interactions),
        "component": "'flink'",
        "rejected_at_ms": "CAST(checked_at_ms AS STRING)",
        "original_size": "CAST(payload_size AS STRING)",
        "sha256": "sha256",
    }
    entries = ", ".join(f"{_quote(name)}, {b(expr)}" for name, expr in headers.items())
    return f"""INSERT INTO {sink}
SELECT k, v, MAP[{entries}] FROM {rejected_view}"""


def archive_insert(sink: str, events: str) -> str:
    fmt = "DATE_FORMAT(TO_TIMESTAMP_LTZ(event_time_ms, 3), '{}')"
    columns = ", ".join(f"`{f.name}`" for f in ARCHIVE_SCHEMA)
    return f"""INSERT INTO {sink}
SELECT {columns}, {fmt.format("yyyy-MM-dd")}, {fmt.format("HH")}
FROM {events}"""


def entity_events(events: str, views: Sequence[FreshView]) -> str:
    """ENTITY_EVENT rows for ``FreshFeatures``: one per valid event and view that reads its type, keyed by that
    view's join key (a user's event goes to the user, its engagements to the item too)."""
    parts = []
    all_types = {EventType.Value(t) for t in EVERY_EVENT}
    for index, view in enumerate(views):
        types = view.event_type_numbers
        where = "" if set(types) >= all_types else f" WHERE event_type_num IN ({', '.join(map(str, types))})"
        parts.append(
            f"SELECT {index} AS view_index, `{view.join_key}` AS entity, user_id, event_id, item_id, "
            f"event_type_num, event_time_ms FROM {events}{where}"
        )
    return "\nUNION ALL\n".join(parts)
