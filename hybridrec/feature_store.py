"""Opening the Feast store from hybridrec's settings, so every deployable reads and writes the same views.

The feature definitions live in ``feature_repo/definitions.py``; this module only builds the
``RepoConfig`` (Redis online store, file offline store, a local registry) and applies the definitions
built for the given settings (their offline sources under that settings' lake).
"""

from __future__ import annotations

from pathlib import Path

from feast import FeatureStore, RepoConfig
from feast.infra.online_stores.redis import RedisOnlineStoreConfig

from hybridrec.config import PROJECT_ROOT, Settings

FEATURE_REPO = PROJECT_ROOT / "feature_repo"


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
        entity_key_serialization_version=3,
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
