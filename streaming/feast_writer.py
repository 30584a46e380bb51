"""The layout Feast's Redis online store reads, for the JVM code that writes it.

Snapshots are whole feature rows per entity, stamped with a per-entity version that only grows (the time of the
entity's newest event, bumped by 1 ms when needed). The JVM feature operator encodes each row
once into Feast's Redis hash, from the layout :func:`hash_layout` computes with Feast's own key and field-hash
helpers; the JVM sink (``RedisFeatureSink.java``) keeps the newest row per entity of a batch and writes it
only when it is newer than the stored ``_ts`` (the same check as Feast's ``online_write_batch``), so replaying
snapshots after a restart is a no-op and a write can never move a feature backwards: idempotent,
last-write-wins.
"""

from __future__ import annotations

from typing import Any

from hybridrec.feature_store import online_field, online_key
from hybridrec.fresh_features import VIEWS
from hybridrec.fresh_spec import HashLayout

JOIN_KEYS = {v.name: v.join_key for v in VIEWS}


def hash_layout(fv: Any, config: Any) -> HashLayout:
    """The layout of feature view ``fv`` under repo config ``config``, from Feast's own key and hash helpers.
    The key split is checked against ``_redis_key`` on sample entities, so a change of Feast's key format fails
    here, at job start, instead of writing keys Feast never reads."""
    from feast.infra.online_stores.redis import _versioned_fv_name

    name = _versioned_fv_name(fv, config)
    join_key = JOIN_KEYS[fv.name]

    def key(entity: str) -> bytes:
        return online_key(config.project, join_key, entity)

    suffix = config.project.encode()
    empty = key("")
    fields = tuple((f.name, str(f.dtype), online_field(name, f.name)) for f in fv.features)
    layout = HashLayout(
        fv.name,
        empty[: len(empty) - len(suffix) - 4],
        suffix,
        f"_ts:{name}".encode(),
        f"_progress:{name}".encode(),
        fields,
    )
    for sample in ("", "u1", "é-item-\U0001f600"):
        if layout.redis_key(sample) != key(sample):
            raise ValueError(f"Feast's Redis key of {sample!r} is not prefix + length + entity + project")
    return layout
