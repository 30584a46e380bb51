"""Redis stopped mid-test: the ranker answers within the client's deadline with fallback rows and degraded
flags, and recovers when Redis is back. Uses its own throw-away redis-server, never the shared one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridrec.config import Settings, with_section
from hybridrec_pb import ranker_pb2 as pb
from serving.server import start
from tests.helpers import free_port, load_local_services
from tests.support import serving_env as env
from tests.support import serving_kit as kit

pytestmark = pytest.mark.integration

local_services = load_local_services()


@pytest.fixture
def own_redis(isolated: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = with_section(with_section(isolated, "paths", run_dir=tmp_path / "run"), "redis", port=free_port())
    redis = local_services.services(settings)["redis"]
    local_services.up(redis)
    yield settings
    local_services.down(redis)


def test_redis_stopped_mid_test_gives_fallback_rows_within_the_deadline(own_redis: Settings, tmp_path: Path) -> None:
    world = kit.world(n_users=20, n_items=100)
    settings = env.serving_settings(own_redis, tmp_path, log_impressions=False, breaker_failures=3, breaker_open_s=0.2)
    env.seed_features(settings, world, {"u1": kit.heavy_user(world, now_ms=int(time.time() * 1000))})
    env.publish_model(settings, world, tmp_path)
    redis = local_services.services(own_redis)["redis"]
    req = pb.HomepageRequest(user_id="u1", context=pb.RequestContext(device=2), n_rows=4, items_per_row=10)

    async def scenario() -> tuple[pb.HomepageResponse, list[pb.HomepageResponse], pb.HomepageResponse]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        try:
            healthy = await ranker.GetHomepage(req, timeout=0.25)
            await asyncio.to_thread(local_services.down, redis)
            down = [await ranker.GetHomepage(req, timeout=0.25) for _ in range(5)]
            down.append(await ranker.GetHomepage(pb.HomepageRequest(user_id="u5", personalized=True), timeout=0.25))
            await asyncio.to_thread(local_services.up, redis)
            for _ in range(20):  # the breaker lets one probe through every 0.2 s
                back = await ranker.GetHomepage(req, timeout=0.25)
                if not back.degraded:
                    break
                await asyncio.sleep(0.1)
        finally:
            await channel.close()
            await running.stop(1.0)
        return healthy, down, back

    healthy, down, back = asyncio.run(scenario())
    assert list(healthy.degraded) == [] and healthy.rows[1].type == pb.BECAUSE_YOU_WATCHED
    for page in down:  # every call answered before its 250 ms deadline, with full rows
        assert any(d.startswith("features:") for d in page.degraded), page.degraded
        assert len(page.rows) >= 4 and all(r.items for r in page.rows) and len(page.rows[0].items) >= 10
        assert page.model_version == healthy.model_version
    assert any("features:circuit_open" in p.degraded for p in down), "after 3 failures reads are skipped"
    assert down[0].rows[0].type == pb.FOR_YOU, "the in-memory ALS vector still personalises without Redis"
    assert list(back.degraded) == [] and back.rows[1].title == healthy.rows[1].title
