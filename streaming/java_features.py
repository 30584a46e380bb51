"""The keyed user/item feature operator and the online-store sink in the JVM (``EntityFeatures.java`` and
``RedisFeatureSink.java`` in the UDF jar of `make stream-jar`).

Why: the Python operator and writer they replaced cost ~5 ms of job CPU per row around the embedded interpreter
and capped the job at a few hundred events/s. The Java code gets every knob from here, as text: the
windows and half-lives of ``StreamingConfig``, the genre axis of ``hybridrec.contract`` and Feast's Redis layout
of both fresh views (key prefix, field hashes, ``_ts`` field, computed with Feast's own helpers), so it holds no
constant of its own.
"""

from __future__ import annotations

from pyflink.datastream import DataStream
from pyflink.datastream.data_stream import DataStreamSink
from pyflink.java_gateway import get_gateway

from hybridrec import contract
from hybridrec_pb.events_pb2 import EventType
from streaming.config import StreamingSettings
from streaming.feast_writer import JOIN_KEYS, HashLayout, hash_layout
from streaming.logic import N_EVENT_TYPES


def _hex(text: str) -> str:
    return text.encode().hex()


def _layout_lines(prefix: str, layout: HashLayout) -> list[str]:
    fields = ",".join(f"{_hex(name)}:{_hex(dtype)}:{h.hex()}" for name, dtype, h in layout.fields)
    return [f"{prefix}_view={_hex(layout.view)}", f"{prefix}_key_prefix={layout.key_prefix.hex()}",
            f"{prefix}_key_suffix={layout.key_suffix.hex()}", f"{prefix}_ts_field={layout.ts_field.hex()}",
            f"{prefix}_fields={fields}"]


def spec_text(settings: StreamingSettings, user: HashLayout, item: HashLayout, *, kafka: bool = True,
              key_ttl_seconds: int = 0) -> str:
    """The ``FeatureSpec`` of the operator and the sink (lines ``name=value``, strings hex-encoded).
    ``kafka=False``: no catalog reads (the unit test hands the catalog to the Java test driver)."""
    cfg = settings.streaming
    redis = settings.redis
    other = contract.GENRES[contract.genre_index("Other")]
    aliases = ",".join(f"{_hex(a)}:{_hex(contract.GENRES[contract.genre_index(a)])}"
                       for a in contract.GENRE_ALIASES)
    lines = [
        f"recent_n={cfg.recent_n}", f"hidden_n={cfg.hidden_n}", f"session_gap_ms={cfg.session_gap_ms}",
        f"taste_half_life_ms={cfg.taste_half_life_ms}",
        f"popularity_half_life_ms={settings.features.popularity_half_life_ms}",
        f"counts_short_ms={cfg.counts_short_ms}", f"counts_long_ms={cfg.counts_long_ms}",
        f"engagement_types={','.join(str(v) for v in cfg.engagement_type_values)}",
        f"hide_type={EventType.HIDE}", f"n_event_types={N_EVENT_TYPES}",
        f"genres={','.join(_hex(g) for g in contract.GENRES)}", f"genre_other={_hex(other)}",
        f"genre_aliases={aliases}",
        f"bootstrap_servers={_hex(settings.kafka.bootstrap_servers if kafka else '')}",
        f"catalog_topic={_hex(settings.kafka.topics.catalog)}", f"catalog_refresh_ms={cfg.catalog_refresh_ms}",
        *_layout_lines("user", user), *_layout_lines("item", item),
        f"redis_host={_hex(redis.host)}", f"redis_port={redis.port}", f"redis_db={redis.db}",
        f"key_ttl_seconds={key_ttl_seconds}", f"write_batch_size={cfg.write_batch_size}",
        f"write_interval_ms={cfg.write_interval_ms}",
    ]
    return "\n".join(lines) + "\n"


def job_spec(settings: StreamingSettings) -> str:
    """The spec of a job, with both fresh views' layouts from the Feast registry (the job applies the definitions
    first) and the online store's key TTL."""
    from hybridrec.feature_store import open_store

    store = open_store(settings)
    user, item = (hash_layout(store.get_feature_view(view), store.config) for view in JOIN_KEYS)
    return spec_text(settings, user, item, key_ttl_seconds=store.config.online_store.key_ttl_seconds or 0)


def entity_features(entity_batches: DataStream, spec: str) -> DataStream:
    """ENTITY_BATCH rows (a JVM DataStream from ``to_data_stream``) keyed by kind + entity → SNAPSHOT rows,
    entirely in the JVM."""
    cls = get_gateway().jvm.io.hybridrec.streaming.EntityFeatures
    j_stream = entity_batches._j_data_stream.keyBy(cls.keySelector()).process(cls(spec), cls.outputType())
    return DataStream(j_stream)


def write_online_features(snapshots: DataStream, spec: str) -> DataStreamSink:
    """SNAPSHOT rows → Feast's Redis online store, by ``RedisFeatureSink`` (chained behind the operator)."""
    sink = get_gateway().jvm.io.hybridrec.streaming.RedisFeatureSink(spec)
    return DataStreamSink(snapshots._j_data_stream.sinkTo(sink)).name("write-online-features")
