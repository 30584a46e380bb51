"""Writing feature snapshots to the Feast online store (Redis) through Feast's own write path.

Snapshots are whole feature rows per entity, stamped with a per-entity version that only grows (the event
time of the window that produced them, bumped by 1 ms when needed). Feast's Redis store keeps a row only when
its timestamp is newer than the stored one, so replaying snapshots after a restart is a no-op and a write can
never move a feature backwards: idempotent, last-write-wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import DoubleList, FloatList, Int64List, StringList, Value

from hybridrec.config import Settings
from hybridrec.contract import ITEM_FRESH_VIEW, USER_FRESH_VIEW

JOIN_KEYS = {USER_FRESH_VIEW: "user_id", ITEM_FRESH_VIEW: "item_id"}


def encode_snapshot(features: dict[str, object]) -> bytes:
    return json.dumps(features, separators=(",", ":")).encode()


def _value(v: object) -> Value:
    if isinstance(v, bool):
        raise TypeError("bool features are not part of the fresh views")
    if isinstance(v, int):
        return Value(int64_val=v)
    if isinstance(v, float):
        return Value(double_val=v)
    if isinstance(v, str):
        return Value(string_val=v)
    if isinstance(v, list):
        if not v or isinstance(v[0], str):
            return Value(string_list_val=StringList(val=v)) if v else Value()
        if isinstance(v[0], int):
            return Value(int64_list_val=Int64List(val=v))
        return Value(double_list_val=DoubleList(val=v))
    raise TypeError(f"unsupported feature value {v!r}")


def to_value(name: str, v: object, dtypes: dict[str, str]) -> Value:
    """A feature value as the proto type its view declares (Float32 lists, empty lists)."""
    kind = dtypes.get(name, "")
    if isinstance(v, list):
        if "Float32" in kind:
            return Value(float_list_val=FloatList(val=v))
        if "Float64" in kind:
            return Value(double_list_val=DoubleList(val=v))
        if "Int64" in kind:
            return Value(int64_list_val=Int64List(val=v))
        if "String" in kind:
            return Value(string_list_val=StringList(val=v))
    if isinstance(v, float | int) and kind == "Float64":
        return Value(double_val=float(v))
    return _value(v)


def latest_per_entity(entities: Sequence[str], versions: Sequence[int], payloads: Sequence[bytes]
                      ) -> dict[str, tuple[int, bytes]]:
    """The newest snapshot of each entity in a micro-batch."""
    out: dict[str, tuple[int, bytes]] = {}
    for entity, version, payload in zip(entities, versions, payloads, strict=True):
        prev = out.get(entity)
        if prev is None or version >= prev[0]:
            out[entity] = (version, payload)
    return out


class FeastOnlineWriter:
    """Writes snapshots of the fresh views with the provider's ``online_write_batch`` (Feast's Redis layout)."""

    def __init__(self, settings: Settings, batch_size: int) -> None:
        from hybridrec.feature_store import open_store

        self._store = open_store(settings)
        self._provider = self._store._get_provider()
        self._views = {name: self._store.get_feature_view(name) for name in JOIN_KEYS}
        self._dtypes = {name: {f.name: str(f.dtype) for f in fv.features} for name, fv in self._views.items()}
        self._batch_size = batch_size

    def write(self, view: str, snapshots: dict[str, tuple[int, bytes]]) -> int:
        """Write ``entity → (version_ms, payload)``; returns the number of rows sent."""
        join_key, dtypes, fv = JOIN_KEYS[view], self._dtypes[view], self._views[view]
        rows: list[tuple[EntityKey, dict[str, Value], datetime, Any]] = []
        now = datetime.now(tz=UTC)
        for entity, (version, payload) in snapshots.items():
            features = json.loads(payload)
            values = {k: to_value(k, v, dtypes) for k, v in features.items()}
            key = EntityKey(join_keys=[join_key], entity_values=[Value(string_val=entity)])
            rows.append((key, values, datetime.fromtimestamp(version / 1000, tz=UTC), now))
        for chunk in _chunks(rows, self._batch_size):
            self._provider.online_write_batch(self._store.config, fv, chunk, None)
        return len(rows)

    def close(self) -> None:
        self._store = None  # type: ignore[assignment]


def _chunks(rows: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i: i + size]
