"""The fresh-feature operator and the online-store sink in the JVM (``FreshFeatures.java`` and
``RedisFeatureSink.java`` in the job's jar), and the spec that tells them what to compute.

Why the JVM: per-record Python cost ~5 ms of job CPU per row around the embedded interpreter and capped the job at a
few hundred events/s. The Java code holds no definition and no constant of its own: it gets, as one text, every
aggregation of ``hybridrec/fresh_features.py`` (kind, event types, parameters, output features), Feast's Redis
layout of each view (key prefix, field hashes, ``_ts`` field, computed with Feast's own helpers), the genre axis of
``hybridrec.contract`` and the job's knobs of ``StreamingConfig``, in the text ``hybridrec/fresh_spec.py`` builds
(the batch layer builds its own from there, for the same fold over the archive).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.datastream import DataStream
from pyflink.datastream.data_stream import DataStreamSink

from hybridrec import fresh_features, fresh_spec
from hybridrec.fresh_features import FreshView
from hybridrec.fresh_spec import HashLayout, OrderKnobs, SpecIO
from streaming import jvm
from streaming.config import StreamingSettings
from streaming.feast_writer import hash_layout
from streaming.jvm import jvm_class


def spec_text(
    settings: StreamingSettings,
    layouts: Sequence[HashLayout],
    *,
    kafka: bool = True,
    key_ttl_seconds: int = 0,
    generation: int = 0,
    views: Sequence[FreshView] = fresh_features.VIEWS,
) -> str:
    """The ``FreshSpec`` of the operator and the sink (:func:`hybridrec.fresh_spec.spec_text`) with the job's knobs;
    ``layouts`` in the order of ``views``; ``generation`` of the job's state (:func:`streaming.job.state_generation`).
    ``kafka=False``: no catalog reads (the test drivers get the catalog directly)."""
    cfg = settings.streaming
    redis = settings.redis
    io = SpecIO(
        bootstrap_servers=settings.kafka.bootstrap_servers if kafka else "",
        catalog_topic=settings.kafka.topics.catalog,
        catalog_refresh_ms=cfg.catalog_refresh_ms,
        redis_host=redis.host,
        redis_port=redis.port,
        redis_db=redis.db,
        key_ttl_seconds=key_ttl_seconds,
        write_batch_size=cfg.write_batch_size,
        flush_interval_ms=cfg.flush_interval_ms,
        write_retry_max_ms=cfg.write_retry_max_ms,
        generation=generation,
    )
    order = OrderKnobs(cfg.allowed_lateness_ms, cfg.max_buffered_events)
    return fresh_spec.spec_text(layouts, order, io, views)


def job_spec(settings: StreamingSettings, generation: int) -> str:
    """The spec of a job, with the fresh views' layouts from the Feast registry (the job applies the definitions
    first) and the online store's key TTL."""
    from hybridrec.feature_store import open_store

    store = open_store(settings)
    layouts = [hash_layout(store.get_feature_view(v.name), store.config) for v in fresh_features.VIEWS]
    return spec_text(
        settings, layouts, key_ttl_seconds=store.config.online_store.key_ttl_seconds or 0, generation=generation
    )


def fresh_features_operator(entity_events: DataStream, spec: str) -> DataStream:
    """ENTITY_EVENT rows (a JVM DataStream from ``to_data_stream``) keyed by view + entity → SNAPSHOT rows, entirely
    in the JVM; late events on the side output of ``late_events``."""
    cls = jvm_class(jvm.FRESH_FEATURES)
    keyed = entity_events._j_data_stream.keyBy(cls.keySelector(spec))
    j_stream = keyed.transform("fresh-features", cls.outputType(), cls.operator(spec))
    return DataStream(j_stream)


def late_events(snapshots: DataStream) -> DataStream:
    """Dead letters of the events too late for their entity (columns of the job's dead-letter insert)."""
    cls = jvm_class(jvm.FRESH_FEATURES)
    return DataStream(snapshots._j_data_stream.getSideOutput(cls.lateTag()))


def write_online_features(snapshots: DataStream, spec: str) -> DataStreamSink:
    """SNAPSHOT rows → Feast's Redis online store, by ``RedisFeatureSink`` (chained behind the operator)."""
    sink = jvm_class(jvm.REDIS_FEATURE_SINK)(spec)
    return DataStreamSink(snapshots._j_data_stream.sinkTo(sink)).name("write-online-features")
