"""The fresh features as the JVM code reads them: the spec text ``io.hybridrec.features.FreshSpec`` parses, and the
jar that holds that code for the batch layer.

Both layers run the same JVM fold over ``hybridrec/fresh_features.py``: the speed layer's operator on Kafka events
(``streaming/java_features.py`` adds Feast's Redis layout and the job's knobs), the batch layer's Spark on the
archive (:func:`fold_spec_text`, no Kafka or Redis), so a training row's fresh features are what the job computes,
by construction. The text is ``name=value`` lines with every string hex-encoded (nothing needs escaping); the JVM
side has no default, so a knob missing here fails at start instead of computing a different feature.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hybridrec import contract, fresh_features
from hybridrec.fresh_features import FreshView

FEATURES_JAR = "features/hybridrec-features.jar"
"""The package ``io.hybridrec.features`` alone (JDK-only; `make features-jar`), under ``paths.deps_dir``."""
SNAPSHOT_FOLD = "io.hybridrec.features.SnapshotFold"
"""Its entry point for Spark: ``fold(spec text, view, fields, events)`` (see ``SnapshotFold.java``)."""


def features_jar(deps_dir: Path) -> Path:
    """The features jar, or a clear error saying what builds it."""
    jar = deps_dir / FEATURES_JAR
    if not jar.is_file():
        raise FileNotFoundError(f"{jar} is missing: run `make features-jar` (the fresh-feature core training uses)")
    return jar


def _hex(text: str) -> str:
    return text.encode().hex()


@dataclass(frozen=True)
class HashLayout:
    """Feast's Redis layout of one view, for an encoder outside Python (the JVM feature operator): the Redis key
    of entity ``e`` is ``key_prefix + le32(len(e.utf8)) + e.utf8 + key_suffix``; each feature is a hash field."""

    view: str
    key_prefix: bytes
    key_suffix: bytes
    ts_field: bytes
    progress_field: bytes  # the writer's replay check, beside Feast's fields (Feast ignores it)
    fields: tuple[tuple[str, str, bytes], ...]  # (feature name, Feast dtype, field hash)

    def redis_key(self, entity: str) -> bytes:
        raw = entity.encode()
        return self.key_prefix + struct.pack("<I", len(raw)) + raw + self.key_suffix


def unstored_layout(view: FreshView) -> HashLayout:
    """A layout without Redis parts (empty keys and hashes): a fold that writes nothing still names its fields."""
    return HashLayout(view.name, b"", b"", b"", b"", tuple((o.name, o.dtype, b"") for o in view.outputs()))


@dataclass(frozen=True)
class OrderKnobs:
    """How the fold keeps event-time order: ``StreamingConfig.allowed_lateness_ms`` and ``max_buffered_events``."""

    allowed_lateness_ms: int
    max_buffered_events: int


@dataclass(frozen=True)
class SpecIO:
    """The I/O knobs of the operator and the sink (the spec's line of each field). The defaults: no Kafka, no Redis,
    for a fold that only computes (the batch layer's, the test drivers')."""

    bootstrap_servers: str = ""
    catalog_topic: str = ""
    catalog_refresh_ms: int = 0
    redis_host: str = ""
    redis_port: int = 0
    redis_db: int = 0
    key_ttl_seconds: int = 0
    write_batch_size: int = 1
    flush_interval_ms: int = 0
    write_retry_max_ms: int = 0
    generation: int = 0

    def lines(self) -> list[str]:
        return [f"{k}={_hex(v) if isinstance(v, str) else v}" for k, v in asdict(self).items()]


LEGACY_STATE_KEYS = {contract.USER_FRESH_VIEW: "u", contract.ITEM_FRESH_VIEW: "i"}
"""How the operator's keyed state keys start for a view's entities: the micro-window operator before it keyed users
'u' + id and items 'i' + id, so a restore of its savepoint finds their state; another view gets its index digit."""


def state_keys(views: Sequence[FreshView]) -> str:
    return "".join(LEGACY_STATE_KEYS.get(v.name, str(i)) for i, v in enumerate(views))


def view_lines(index: int, view: FreshView, layout: HashLayout, order: OrderKnobs) -> list[str]:
    """The ``view=``, ``field=`` and ``agg=`` lines of one view (fields in the layout's order)."""
    lines = [
        f"view={index} {_hex(view.name)} {order.allowed_lateness_ms} {order.max_buffered_events} "
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
    layouts: Sequence[HashLayout],
    order: OrderKnobs,
    io: SpecIO,
    views: Sequence[FreshView] = fresh_features.VIEWS,
) -> str:
    """The ``FreshSpec`` of ``views`` (``layouts`` in their order): the genre axis of ``hybridrec.contract``, every
    aggregation's kind, event types, parameters and outputs, and the knobs."""
    other = contract.GENRES[contract.genre_index("Other")]
    aliases = ",".join(f"{_hex(a)}:{_hex(contract.GENRES[contract.genre_index(a)])}" for a in contract.GENRE_ALIASES)
    lines = [
        f"genres={','.join(_hex(g) for g in contract.GENRES)}",
        f"genre_other={_hex(other)}",
        f"genre_aliases={aliases}",
        f"n_event_types={fresh_features.N_EVENT_TYPES}",
        *io.lines(),
        f"state_keys={state_keys(views)}",
    ]
    for index, (view, layout) in enumerate(zip(views, layouts, strict=True)):
        if layout.view != view.name:
            raise ValueError(f"layout of {layout.view} given for view {view.name}")
        lines += view_lines(index, view, layout, order)
    return "\n".join(lines) + "\n"


FOLD_IN_ORDER = OrderKnobs(allowed_lateness_ms=0, max_buffered_events=1)
"""A fold given its events in event-time order keeps no raw events: nothing arrives out of order."""


def fold_spec_text(views: Sequence[FreshView] = fresh_features.VIEWS) -> str:
    """The spec of the batch layer's fold (``SnapshotFold``, which sorts each entity's events first): the views'
    features without Feast's Redis layout, Kafka or Redis."""
    return spec_text([unstored_layout(v) for v in views], FOLD_IN_ORDER, SpecIO(), views)
