"""Fixtures of the batch integration tests (the SparkSession is in tests/conftest.py): settings whose lake,
registry and Feast project are private to the test (the Feast definitions are built for these settings)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from hybridrec.config import FeastConfig, PathsConfig, Settings
from hybridrec.datasets.model import Item


@pytest.fixture(scope="module")
def lake_settings(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("batch-data")
    project = f"t{uuid.uuid4().hex[:10]}"
    return services.model_copy(
        update={
            "paths": PathsConfig(**{**services.paths.model_dump(), "data_dir": data_dir}),
            "feast": FeastConfig(project=project, registry_path=data_dir / "feast" / "registry.db"),
        }
    )


START_MS = 1_699_920_000_000  # 2023-11-14 00:00 UTC
GENRE_POOL = ("Comedy", "Drama", "Horror", "Sci-Fi", "Romance", "Action")


def clustered_world(
    seed: int = 5, n_users: int = 80, n_items: int = 48, n_clusters: int = 4, days: int = 6
) -> tuple[list[Item], list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    items = [Item(str(i), f"Item {i}", tuple(rng.choice(GENRE_POOL, 2, replace=False)), 2000) for i in range(n_items)]
    rows: list[dict[str, object]] = []
    per_cluster = n_items // n_clusters
    for u in range(n_users):
        cluster = u % n_clusters
        own = list(range(cluster * per_cluster, (cluster + 1) * per_cluster))
        times = np.sort(rng.integers(START_MS, START_MS + days * 86_400_000, 40))
        for k, t in enumerate(times):
            item = int(rng.choice(own)) if rng.random() < 0.9 else int(rng.integers(0, n_items))
            kind = rng.choice(["PLAY", "CLICK", "RATING", "IMPRESSION"], p=[0.4, 0.2, 0.2, 0.2])
            value = float(rng.integers(3, 6)) if kind == "RATING" else 1.0
            rows.append(
                {
                    "event_id": f"e{u}-{k}",
                    "user_id": f"u{u}",
                    "item_id": str(item),
                    "event_type": kind,
                    "value": value,
                    "event_time_ms": int(t),
                    "surface": "homepage/top_picks",
                    "position": int(rng.integers(0, 10)),
                    "device": "TV" if u % 2 else "WEB",
                }
            )
    dupes = [dict(r) for r in rows[::25]]  # redelivered copies of the same events
    return items, rows + dupes


@pytest.fixture(scope="session")
def world() -> tuple[list[Item], list[dict[str, object]]]:
    """A tiny world where users belong to one of four taste clusters and engage almost only with their
    cluster's items; popularity is flat and genres are random, so only collaborative signal (ALS + ranker)
    finds what a user wants, popularity cannot, and shuffling the item embeddings destroys it."""
    return clustered_world()
