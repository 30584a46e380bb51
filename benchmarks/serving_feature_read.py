"""Feature read paths of the ranker, same keys, same Redis: Feast's ``get_online_features`` vs one direct
pipelined HMGET on Feast's layout (``serving/features/redis_direct.py``).

Measures, sequentially on loopback: one user's two views (the per-request read) and 100 items' item_batch
(what fetching candidate features per request would cost). Seeds an isolated Feast project first.

    .venv/bin/python benchmarks/serving_feature_read.py [--iterations 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybridrec.contract import ITEM_BATCH_VIEW, USER_BATCH_VIEW, USER_FRESH_VIEW  # noqa: E402
from hybridrec.feature_store import open_store  # noqa: E402
from serving.config import ServingSettings  # noqa: E402
from serving.features.redis_direct import (  # noqa: E402
    ITEM_BATCH_FIELDS,
    USER_BATCH_FIELDS,
    USER_FRESH_FIELDS,
    RedisFeatureReader,
)
from tests.support import serving_env as env  # noqa: E402
from tests.support import serving_kit as kit  # noqa: E402


def pct(xs: list[float]) -> dict[str, float]:
    ms = np.array(xs) * 1000
    return {q: round(float(np.percentile(ms, p)), 3) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--iterations", type=int, default=300)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="feature-read-") as tmp:
        return measure(args.iterations, Path(tmp))


def measure(iterations: int, tmp: Path) -> int:
    settings = env.serving_settings(ServingSettings(), tmp)
    w = kit.world(n_users=200, n_items=1000)
    env.seed_features(settings, w, {u: kit.heavy_user(w, recent=20) for u in w.user_ids})
    store = open_store(settings)
    user_refs = [f"{USER_FRESH_VIEW}:{f}" for f in USER_FRESH_FIELDS] + [
        f"{USER_BATCH_VIEW}:{f}" for f in USER_BATCH_FIELDS
    ]
    item_refs = [f"{ITEM_BATCH_VIEW}:{f}" for f in ITEM_BATCH_FIELDS]
    items = w.item_ids[:100]
    out: dict[str, dict[str, float]] = {}

    def timed(name: str, fn) -> None:
        fn()  # warm
        xs = []
        for k in range(iterations):
            t0 = time.perf_counter()
            fn(k)
            xs.append(time.perf_counter() - t0)
        out[name] = pct(xs)

    timed(
        "feast_sdk: 1 user, 2 views",
        lambda k=0: store.get_online_features(
            features=user_refs, entity_rows=[{"user_id": w.user_ids[k % 200]}]
        ).to_dict(),
    )
    timed(
        "feast_sdk: 100 items, item_batch",
        lambda k=0: store.get_online_features(
            features=item_refs, entity_rows=[{"item_id": i} for i in items]
        ).to_dict(),
    )

    async def direct() -> None:
        reader = RedisFeatureReader(settings.redis, settings.feast.project)
        for name, call in (
            ("direct: 1 user, 2 views (1 HMGET)", lambda k: reader.read_user(w.user_ids[k % 200])),
            ("direct: 100 items, item_batch (1 pipeline)", lambda k: reader.read_items(items)),
        ):
            await call(0)
            xs = []
            for k in range(iterations):
                t0 = time.perf_counter()
                await call(k)
                xs.append(time.perf_counter() - t0)
            out[name] = pct(xs)
        await reader.close()

    asyncio.run(direct())
    for name, r in out.items():
        print(f"{name:<45} {json.dumps(r)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
