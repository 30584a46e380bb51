"""The fresh-feature operator and the online-store sink in the JVM (``FreshFeatures.java`` and
``RedisFeatureSink.java`` in the job's jar), and the spec that tells them what to compute.

Why the JVM: per-record Python cost ~5 ms of job CPU per row around the embedded interpreter and capped the job at a
few hundred events/s. The Java code holds no definition and no constant of its own: it gets, as one text, every
aggregation of ``hybridrec/fresh_features.py`` (kind, event types, parameters, output features), Feast's Redis
layout of each view (key prefix, field hashes, ``_ts`` field, computed with Feast's own helpers), the genre axis of
``hybridrec.contract`` and the job's knobs of ``StreamingConfig``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyflink.datastream import DataStream
from pyflink.datastream.data_stream import DataStreamSink

from hybridrec import contract, fresh_features
from hybridrec.fresh_features import FreshView
from streaming import jvm
from streaming.config import StreamingSettings
from streaming.feast_writer import HashLayout, hash_layout
from streaming.jvm import jvm_class


def _hex(text: str) -> str:
    return text.encode().hex()


LEGACY_STATE_KEYS = {contract.USER_FRESH_VIEW: "u", contract.ITEM_FRESH_VIEW: "i"}
"""How the operator's keyed state keys start for a view's entities: the micro-window operator before it keyed users
'u' + id and items 'i' + id, so a restore of its savepoint finds their state; another view gets its index digit."""


def state_keys(views: Sequence[FreshView]) -> str:
    return "".join(LEGACY_STATE_KEYS.get(v.name, str(i)) for i, v in enumerate(views))


def view_lines(index: int, view: FreshView, layout: HashLayout, settings: StreamingSettings) -> list[str]:
    """The ``view=``, ``field=`` and ``agg=`` lines of one view (fields in the Feast view's order)."""
    cfg = settings.streaming
    lines = [
        f"view={index} {_hex(view.name)} {cfg.allowed_lateness_ms} {cfg.max_buffered_events} "
        f"{layout.key_prefix.hex()} {layout.key_suffix.hex()} {layout.ts_field.hex()} "
        f"{layout.progress_field.hex()}"
    ]
    lines += [f"field={index} {_hex(name)} {_hex(dtype)} {h.hex()}" for name, dtype, h in layout.fields]
    for agg in view.aggregations:
        params = ";".join(f"{k}:{v}" for k, v in agg.param_values().items())
        outputs = ";".join(f"{o.facet}:{_hex(o.name)}" for o in agg.outputs())
        types = ",".join(str(t) for t in agg.event_type_numbers)
        lines.append(f"agg={index} {agg.kind} {types} {params} {outputs}")
    return lines


def spec_text(
    settings: StreamingSettings,
    layouts: Sequence[HashLayout],
    *,
    kafka: bool = True,
    key_ttl_seconds: int = 0,
    generation: int = 0,
    views: Sequence[FreshView] = fresh_features.VIEWS,
) -> str:
    """The ``FreshSpec`` of the operator and the sink: ``name=value`` lines, strings hex-encoded; ``layouts`` in the
    order of ``views``; ``generation`` of the job's state (:func:`streaming.job.state_generation`). ``kafka=False``:
    no catalog reads (the test drivers get the catalog directly)."""
    cfg = settings.streaming
    redis = settings.redis
    other = contract.GENRES[contract.genre_index("Other")]
    aliases = ",".join(f"{_hex(a)}:{_hex(contract.GENRES[contract.genre_index(a)])}" for a in contract.GENRE_ALIASES)
    lines = [
        f"genres={','.join(_hex(g) for g in contract.GENRES)}",
        f"genre_other={_hex(other)}",
        f"genre_aliases={aliases}",
        f"n_event_types={fresh_features.N_EVENT_TYPES}",
        f"bootstrap_servers={_hex(settings.kafka.bootstrap_servers if kafka else '')}",
        f"catalog_topic={_hex(settings.kafka.topics.catalog)}",
        f"catalog_refresh_ms={cfg.catalog_refresh_ms}",
        f"redis_host={_hex(redis.host)}",
        f"redis_port={redis.port}",
        f"redis_db={redis.db}",
        f"key_ttl_seconds={key_ttl_seconds}",
        f"write_batch_size={cfg.write_batch_size}",
        f"flush_interval_ms={cfg.flush_interval_ms}",
        f"write_retry_max_ms={cfg.write_retry_max_ms}",
        f"generation={generation}",
        f"state_keys={state_keys(views)}",
    ]
    for index, (view, layout) in enumerate(zip(views, layouts, strict=True)):
        if layout.view != view.name:
            raise ValueError(f"layout of {layout.view} given for view {view.name}")
        lines += view_lines(index, view, layout, settings)
    return "\n".join(lines) + "\n"


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
