"""Opening the Feast store from hybridrec's settings, so every deployable reads and writes the same views.

The feature definitions live in ``feature_repo/definitions.py``; this module builds the ``RepoConfig``
(Redis online store, file offline store, a local registry), applies the definitions built for the given
settings (their offline sources under that settings' lake), and names Feast's Redis layout once for the code
that reads or writes it without the SDK (serving's one-HMGET read, the JVM sink's key prefix, clean-ups):
a hash per entity keyed by the serialized entity key plus the project, one field per
``murmur3("<view>:<feature>")``. The encodings are Feast's own functions, so the layout cannot drift.
"""

from __future__ import annotations

from pathlib import Path

from feast import FeatureStore, RepoConfig
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from hybridrec.config import PROJECT_ROOT, Settings

FEATURE_REPO = PROJECT_ROOT / "feature_repo"
# Feast's current entity-key format; feature_repo/feature_store.yaml (for the CLI) states the same
# (tests/unit/test_feature_store_layout.py holds them equal).
ENTITY_KEY_SERIALIZATION_VERSION = 3


def registry_path(settings: Settings) -> Path:
    return settings.feast.registry_path or settings.paths.data_dir / "feast" / "registry.db"


def repo_config(settings: Settings) -> RepoConfig:
    redis = settings.redis
    return RepoConfig(
        project=settings.feast.project,
        provider="local",
        registry=str(registry_path(settings)),
        online_store=RedisOnlineStoreConfig(connection_string=f"{redis.host}:{redis.port},db={redis.db}"),
        offline_store={"type": "file"},
        entity_key_serialization_version=ENTITY_KEY_SERIALIZATION_VERSION,
        repo_path=str(FEATURE_REPO),
    )


def open_store(settings: Settings) -> FeatureStore:
    registry_path(settings).parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=repo_config(settings), repo_path=str(FEATURE_REPO))


def apply_definitions(settings: Settings) -> FeatureStore:
    """Register the entities, sources and views of feature_repo/ built for ``settings`` (idempotent, like
    `feast apply`)."""
    from feature_repo.definitions import build

    store = open_store(settings)
    store.apply(build(settings).all)
    return store


def online_key(project: str, join_key: str, value: str) -> bytes:
    """The Redis key of one entity's hash (every view of the entity shares it)."""
    entity = EntityKey(join_keys=[join_key], entity_values=[Value(string_val=value)])
    return _redis_key(project, entity, entity_key_serialization_version=ENTITY_KEY_SERIALIZATION_VERSION)


def online_field(view: str, feature: str) -> bytes:
    """The hash field of one feature of ``view`` (``view`` as Feast names it in Redis)."""
    return _mmh3(f"{view}:{feature}")


def drop_online_rows(settings: Settings) -> int:
    """Delete the Redis hashes of ``settings``' Feast project (every key ends with the project name), so runs
    with throwaway projects do not pile up in a long-lived Redis (one benchmark run leaves ~25k keys)."""
    import redis

    client = redis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    deleted = 0
    keys: list[bytes] = []
    try:
        for key in client.scan_iter(match=b"*" + settings.feast.project.encode(), count=5_000):
            keys.append(key)
            if len(keys) >= 5_000:
                deleted += client.unlink(*keys)
                keys.clear()
        if keys:
            deleted += client.unlink(*keys)
    finally:
        client.close()
    return deleted
