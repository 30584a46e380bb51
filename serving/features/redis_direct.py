"""Direct pipelined reads of Feast's Redis layout: the per-request read path of the ranker.

Feast's Redis store keeps every view of an entity in one hash, keyed by the serialized entity key plus the
project name, with one field per ``murmur3("<view>:<feature>")`` and ``_ts:<view>``. Both user views
(``user_fresh``, ``user_batch``) therefore live in the same hash, so one HMGET returns everything a request
needs in one round trip. The key and field encodings are Feast's own functions, so the layout cannot drift
from what the speed and batch layers write through Feast. Feast's ``get_online_features`` reads the same
keys; ``benchmarks/serving_feature_read.py`` measures both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from feast.protos.feast.types.Value_pb2 import Value

from hybridrec import fresh_features
from hybridrec.config import RedisConfig
from hybridrec.contract import ITEM_BATCH_VIEW, ITEM_FRESH_VIEW, USER_BATCH_VIEW, USER_FRESH_VIEW
from hybridrec.feature_store import online_field, online_key
from serving.features.base import ItemFeatures, Trending, UserFeatures

# hidden_items and engaged_items (speed layer) and top_k_items/top_k_scores/seen_hashes (batch layer) came later than
# the rest: a hash written by an older job simply lacks them, which reads as None (nothing hidden, no candidates).
USER_FRESH_FIELDS = (
    "recent_items",
    "session_genres",
    "taste_genres",
    "last_event_ms",
    "hidden_items",
    "engaged_items",
    "recent_item_times_ms",
)
USER_BATCH_FIELDS = (
    "genre_profile",
    "n_events",
    "n_ratings",
    "mean_rating",
    "first_event_ms",
    "top_k_items",
    "top_k_scores",
    "seen_hashes",
)
ITEM_BATCH_FIELDS = ("popularity", "n_ratings", "mean_rating", "genres", "year", "age_days")
RECENT_POPULARITY = tuple(fresh_features.recent_popularity_values().items())  # (half-life ms, feature), 30 d first
ITEM_FRESH_FIELDS = (
    "trending_1h",
    "trending_window_end_ms",
    "decayed_popularity",
    "last_event_ms",
    *(name for _, name in RECENT_POPULARITY),
)
_CHUNK = 1000
# Trending of every catalog item, every few seconds: a pipeline of one HMGET per item cost ~120 ms of Python
# CPU per refresh for 5 000 items (command packing and reply parsing), in slices that stalled the event loop
# between requests. This script does the per-item reads inside Redis and returns only the items that have a
# count or a popularity (position and the item_fresh fields of ARGV: a count, two times, then the popularities
# from the fifth on), ~5 ms of client CPU for 5 000 items.
# Keys are passed as KEYS, so it is correct for a single Redis (the Feast online store here); on Redis
# Cluster the keys of one call would have to share a slot.
_TRENDING_LUA = """
local out = {}
local n = #ARGV
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, unpack(ARGV))
  local hit = v[1] or v[3]
  for f = 5, n do hit = hit or v[f] end
  if hit then
    out[#out + 1] = i
    for f = 1, n do out[#out + 1] = v[f] end
  end
end
return out
"""


def packed_args(args: Sequence[bytes]) -> bytes:
    """RESP bulk strings of ``args``, packed once (the fixed fields of a per-request command)."""
    return b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def entity_key(join_key: str, value: str, project: str) -> bytes:
    return online_key(project, join_key, value)


def hash_fields(view: str, names: Sequence[str]) -> list[bytes]:
    return [online_field(view, n) for n in names]


def decode(raw: bytes | None) -> Any:
    """A stored ``feast.types.Value`` as a Python value (lists as tuples); None when absent or unset."""
    if raw is None:
        return None
    v = Value.FromString(raw)
    kind = v.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    x = getattr(v, kind)
    return tuple(x.val) if kind.endswith("_list_val") else x


def _num(x: Any) -> float:
    return float(x) if x is not None else 0.0


def trending_from_values(values: Sequence[Any]) -> Trending | None:
    """``item_fresh`` of one item from its :data:`ITEM_FRESH_FIELDS` values; None without a count or popularity."""
    count, end, pop, last, *recent = values
    if not (count or pop or any(recent)):
        return None
    by = {h: float(v or 0.0) for (h, _), v in zip(RECENT_POPULARITY, recent, strict=True)}
    return Trending(int(count or 0), int(end or 0), float(pop or 0.0), int(last or 0), float(recent[0] or 0.0), by)


def user_from_values(fresh: Sequence[Any], batch: Sequence[Any]) -> UserFeatures | None:
    if all(x is None for x in (*fresh, *batch)):
        return None
    recent, session, taste, last, hidden, engaged, recent_times = fresh
    profile, n_events, n_ratings, mean_rating, first, top_items, top_scores, seen_hashes = batch
    top_items = tuple(top_items or ())
    top_scores = tuple(top_scores or ())  # floats already (a float list); not converted one by one
    return UserFeatures(
        recent_items=tuple(recent or ()),
        session_genres=session,
        taste_genres=taste,
        last_event_ms=None if last is None else int(last),
        genre_profile=profile,
        n_events=_num(n_events),
        n_ratings=_num(n_ratings),
        mean_rating=_num(mean_rating),
        first_event_ms=None if first is None else int(first),
        hidden_items=frozenset(hidden or ()),
        engaged_items=tuple(engaged or ()),
        last_engaged_ms=max(recent_times) if recent_times else None,
        top_k_items=top_items,
        top_k_scores=top_scores if len(top_scores) == len(top_items) else (),
        seen_hashes=seen_hashes if isinstance(seen_hashes, bytes) else b"",
    )


class RedisFeatureReader:
    """:class:`FeatureReader` on Feast's Redis hashes with ``redis.asyncio``; socket timeouts bound every call
    even when the caller does not."""

    def __init__(self, redis: RedisConfig, project: str, *, timeout_s: float = 1.0) -> None:
        self._client = aioredis.Redis(
            host=redis.host,
            port=redis.port,
            db=redis.db,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
        )
        self._project = project
        self._user_fields = hash_fields(USER_FRESH_VIEW, USER_FRESH_FIELDS) + hash_fields(
            USER_BATCH_VIEW, USER_BATCH_FIELDS
        )
        self._item_fields = hash_fields(ITEM_BATCH_VIEW, ITEM_BATCH_FIELDS)
        self._trend_fields = hash_fields(ITEM_FRESH_VIEW, ITEM_FRESH_FIELDS)
        self._trending_script = self._client.register_script(_TRENDING_LUA)
        self._item_keys: tuple[Sequence[str], list[bytes]] | None = None  # keys of the last id list read
        self._user_hmget = b"*%d\r\n$5\r\nHMGET\r\n" % (len(self._user_fields) + 2)
        self._user_fields_packed = packed_args(self._user_fields)

    def _keys(self, item_ids: Sequence[str]) -> list[bytes]:
        """Entity keys of ``item_ids``, cached for the same list (the model's items, re-read every few seconds;
        building 5 000 keys costs ~30 ms)."""
        cached = self._item_keys
        if cached is None or cached[0] is not item_ids:
            cached = self._item_keys = (item_ids, [entity_key("item_id", i, self._project) for i in item_ids])
        return cached[1]

    async def _packed(self, command: bytes) -> Any:
        """One pre-packed command on a pooled connection: redis-py's connection handling (timeouts, reconnects, a
        connection dropped on any error or cancellation) without its per-call command packing and retry
        wrapper, a fifth of a user read's client CPU (profiled)."""
        pool = self._client.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(command)
            return await conn.read_response()
        finally:
            await pool.release(conn)

    async def read_user(self, user_id: str) -> UserFeatures | None:
        key = entity_key("user_id", user_id, self._project)
        raw = await self._packed(b"%s$%d\r\n%s\r\n%s" % (self._user_hmget, len(key), key, self._user_fields_packed))
        values = [decode(r) for r in raw]
        n = len(USER_FRESH_FIELDS)
        return user_from_values(values[:n], values[n:])

    async def _hmget_many(self, ids: Sequence[str], fields: list[bytes]) -> list[list[Any]]:
        out: list[list[Any]] = []
        for start in range(0, len(ids), _CHUNK):
            async with self._client.pipeline(transaction=False) as pipe:
                for i in ids[start : start + _CHUNK]:
                    pipe.hmget(entity_key("item_id", i, self._project), fields)
                replies = await pipe.execute()
            out.extend([decode(r) for r in reply] for reply in replies)
        return out

    async def read_items(self, item_ids: Sequence[str]) -> dict[str, ItemFeatures]:
        out: dict[str, ItemFeatures] = {}
        for item, vals in zip(item_ids, await self._hmget_many(item_ids, self._item_fields), strict=True):
            if all(v is None for v in vals):
                continue
            pop, n_r, mean, genres, year, age = vals
            out[item] = ItemFeatures(_num(pop), _num(n_r), _num(mean), tuple(genres or ()), _num(year), _num(age))
        return out

    async def read_trending(self, item_ids: Sequence[str]) -> dict[str, Trending]:
        keys = self._keys(item_ids)
        out: dict[str, Trending] = {}
        for start in range(0, len(keys), _CHUNK):
            flat = await self._trending_script(keys=keys[start : start + _CHUNK], args=self._trend_fields)
            n = len(ITEM_FRESH_FIELDS)
            for k in range(0, len(flat), n + 1):
                t = trending_from_values([decode(x) for x in flat[k + 1 : k + 1 + n]])
                if t is not None:
                    out[item_ids[start + int(flat[k]) - 1]] = t
        return out

    async def close(self) -> None:
        await self._client.aclose()
