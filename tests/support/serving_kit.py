"""Test kit for the ranker: a tiny untrained multi-task ranker built with the batch layer's own model class
and schema (so serving is tested against the real contract), published to a registry under tmp_path in the
registry's file formats, plus matching item features and catalog."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from hybridrec.contract import GENRES
from hybridrec.registry import ModelRegistry, ModelVersion
from serving.catalog import Catalog
from serving.features.base import ItemFeatures, UserFeatures
from serving.model import bundle as names

SURFACES = [
    "<unk>",
    "detail/more_like_this",
    "homepage/because_you_watched",
    "homepage/top_picks",
    "homepage/trending_now",
]
DEVICES = ["<unk>", "MOBILE", "TV", "WEB"]


@dataclass
class World:
    user_ids: list[str]
    item_ids: list[str]
    item_genres: dict[str, tuple[str, ...]]
    popular: list[str]

    def catalog(self) -> Catalog:
        return Catalog({i: f"Title {i}" for i in self.item_ids}, dict(self.item_genres))

    def item_features(self) -> dict[str, ItemFeatures]:
        n = len(self.popular)
        return {
            i: ItemFeatures(
                popularity=(n - r) / n,
                n_ratings=float(n - r),
                mean_rating=3.5,
                genres=self.item_genres[i],
                year=1990.0 + r % 30,
                age_days=float(r),
            )
            for r, i in enumerate(self.popular)
        }


def world(n_users: int = 40, n_items: int = 120) -> World:
    items = [f"i{k}" for k in range(n_items)]
    genres = {i: (GENRES[k % 6], GENRES[6 + k % 5]) if k % 3 == 0 else (GENRES[k % 6],) for k, i in enumerate(items)}
    return World([f"u{k}" for k in range(n_users)], items, genres, list(items))


def write_version_files(
    out: Path, w: World, rank: int = 8, seed: int = 0, hidden: tuple[int, ...] = (16,)
) -> dict[str, Path]:
    from batch import ranker  # the real model class and schema writer (tests may import batch)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ranker.MultiTaskRanker(rank, len(SURFACES), len(DEVICES), list(hidden), 4)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    ranker.export(model).save(str(out / names.RANKER))
    schema = ranker.feature_schema(ranker.Vocab(SURFACES, DEVICES), rank, model)
    (out / names.SCHEMA).write_text(json.dumps(schema))
    uv = rng.normal(size=(len(w.user_ids), rank)).astype(np.float32)
    iv = rng.normal(size=(len(w.item_ids), rank)).astype(np.float32)
    np.save(out / names.USER_VECS, uv)
    np.save(out / names.ITEM_VECS, iv)
    (out / names.USER_IDS).write_text(json.dumps(w.user_ids))
    (out / names.ITEM_IDS).write_text(json.dumps(w.item_ids))
    index = faiss.IndexFlatIP(rank)
    index.add(iv)
    faiss.write_index(index, str(out / names.INDEX))
    similar = faiss.IndexFlatIP(rank)
    similar.add(names.unit_rows(iv))
    faiss.write_index(similar, str(out / names.SIMILAR_INDEX))
    (out / names.POPULAR).write_text(json.dumps([{"item_id": i, "count": 1000 - k} for k, i in enumerate(w.popular)]))
    return {p.name: p for p in out.iterdir()}


def publish(registry: ModelRegistry, w: World, tmp: Path, *, seed: int = 0, promote: bool = True) -> ModelVersion:
    files = write_version_files(tmp / f"build-{seed}", w, seed=seed)
    version = registry.publish(files, {"feature_schema": json.loads(files[names.SCHEMA].read_text())})
    if promote:
        registry.promote(version.version, reason="test")
    return version


def corrupt(version: ModelVersion, name: str = names.RANKER) -> None:
    path = version.path / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def heavy_user(w: World, recent: int = 3, now_ms: int = 1_700_000_000_000) -> UserFeatures:
    g = np.zeros(len(GENRES), np.float32)
    g[GENRES.index(w.item_genres[w.item_ids[0]][0])] = 1.0
    return UserFeatures(
        recent_items=tuple(w.item_ids[:recent]),
        session_genres=tuple(g.tolist()),
        taste_genres=tuple(g.tolist()),
        last_event_ms=now_ms - 60_000,
        last_engaged_ms=now_ms - 60_000,
        genre_profile=tuple(g.tolist()),
        n_events=40,
        n_ratings=10,
        mean_rating=4.0,
        first_event_ms=now_ms - 90 * 86_400_000,
    )
