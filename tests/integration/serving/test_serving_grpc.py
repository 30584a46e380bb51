"""The ranker over gRPC against the real Redis (isolated Feast project) and Kafka (isolated topics)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hybridrec import seen
from hybridrec.config import Settings
from hybridrec.contract import ITEM_FRESH_VIEW
from hybridrec.feature_store import apply_definitions
from hybridrec.registry import ModelRegistry
from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb.events_pb2 import ImpressionLog
from serving.features.feast_sdk import FeastFeatureReader
from serving.features.redis_direct import RedisFeatureReader
from serving.server import start
from tests.helpers import consume
from tests.support import serving_env as env
from tests.support import serving_kit as kit

pytestmark = pytest.mark.integration
NOW = int(time.time() * 1000)


@pytest.fixture
def world() -> kit.World:
    return kit.world(n_users=30, n_items=150)


def _ctx() -> pb.RequestContext:
    return pb.RequestContext(device=1, country="DE")


def _sample(exposition: str, name: str) -> float:
    """The value of one sample (``name`` with its labels) in a Prometheus text exposition; 0 when absent."""
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_homepage_rows_health_reflection_metrics_and_impressions(
    isolated: Settings, tmp_path: Path, world: kit.World
) -> None:
    settings = env.serving_settings(isolated, tmp_path)
    env.seed_features(settings, world, {"u1": kit.heavy_user(world, now_ms=NOW)})
    version = env.publish_model(settings, world, tmp_path)

    async def scenario() -> tuple[pb.HomepageResponse, pb.RowResponse, pb.SimilarItemsResponse, str, str]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        scrape = f"http://127.0.0.1:{running.metrics_port}/metrics"
        try:
            # One call of each counted method first, so both samples exist in the "before" scrape (a label's first
            # sample appears only once used, and may then carry what an earlier server of this process counted).
            await ranker.GetHomepage(pb.HomepageRequest(user_id="warm-up", context=_ctx()), timeout=2)
            await ranker.GetRow(pb.RowRequest(user_id="warm-up", row_type=pb.TRENDING, n_items=5), timeout=2)
            before = await asyncio.to_thread(lambda: urllib.request.urlopen(scrape).read().decode())
            page = await ranker.GetHomepage(
                pb.HomepageRequest(user_id="u1", context=_ctx(), n_rows=4, items_per_row=12, request_id="req-1"),
                timeout=2,
            )
            row = await ranker.GetRow(pb.RowRequest(user_id="u1", row_type=pb.TRENDING, n_items=5), timeout=2)
            similar = await ranker.GetSimilarItems(pb.SimilarItemsRequest(item_id="i7", n_items=6), timeout=2)
            await ranker.GetHomepage(
                pb.HomepageRequest(user_id="u1", personalized=False, request_id="req-anon", context=_ctx()), timeout=2
            )
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="hybridrec.v1.Ranker")
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = [s.name async for r in refl for s in r.list_services_response.service]
            assert "hybridrec.v1.Ranker" in names and "grpc.health.v1.Health" in names
            # v1 too (what grpcurl and ghz ask first): the same answers under the new package name.
            v1 = channel.stream_stream(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
            got = [
                r
                async for r in v1(
                    iter(
                        [
                            reflection_pb2.ServerReflectionRequest(list_services=""),
                            reflection_pb2.ServerReflectionRequest(file_containing_symbol="hybridrec.v1.Ranker"),
                            reflection_pb2.ServerReflectionRequest(  # how ghz asks
                                file_containing_symbol="hybridrec.v1.Ranker.GetHomepage"
                            ),
                        ]
                    )
                )
            ]
            assert {s.name for s in got[0].list_services_response.service} == set(names)
            assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= set(names)
            assert got[1].file_descriptor_response.file_descriptor_proto, "descriptors for stock clients"
            assert (
                got[2].file_descriptor_response.file_descriptor_proto
                == got[1].file_descriptor_response.file_descriptor_proto
            )
            metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(scrape).read().decode())
        finally:
            await channel.close()
            await running.stop(1.0)
        return page, row, similar, before, metrics

    page, row, similar, before, metrics = asyncio.run(scenario())
    assert page.request_id == "req-1" and page.model_version == version and list(page.degraded) == []
    assert [r.type for r in page.rows][:3] == [pb.FOR_YOU, pb.BECAUSE_YOU_WATCHED, pb.TOP_GENRE] or [
        r.type for r in page.rows
    ][:2] == [pb.FOR_YOU, pb.BECAUSE_YOU_WATCHED]
    assert page.rows[1].title == "Because you watched Title i0"
    served = [i.item_id for r in page.rows for i in r.items]
    assert len(served) == len(set(served)) == 4 * 12
    assert not {"i0", "i1", "i2"} & set(served)
    assert row.row.type == pb.POPULAR or row.row.type == pb.TRENDING
    assert len(similar.items) == 6 and "i7" not in [i.item_id for i in similar.items]
    # Deltas, not absolute values: prometheus_client's multiprocess mode keeps values per process, not per
    # registry, so a counter may start above zero when another server of this process served first.
    homepage = 'hybridrec_serving_request_seconds_count{method="GetHomepage"}'
    row_calls = 'hybridrec_serving_request_seconds_count{method="GetRow"}'
    assert _sample(metrics, homepage) - _sample(before, homepage) == 2.0
    assert _sample(metrics, row_calls) - _sample(before, row_calls) == 1.0
    for name in (
        'hybridrec_serving_stage_seconds_count{stage="features"}',
        f'hybridrec_serving_model_info{{version="{version}"}} 1.0',
        "hybridrec_serving_candidates_bucket",
    ):
        assert name in metrics, name

    logs = [
        ImpressionLog.FromString(m.value())
        for m in consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.impressions, expected=6, timeout_s=30)
    ]
    first = next(x for x in logs if x.request_id == "req-1")
    assert (first.user_id, first.model_version, first.variant) == ("u1", version, "control")
    assert [s.item_id for s in first.slots] == served
    assert [(s.row_position, s.position) for s in first.slots][:13] == [(0, p) for p in range(12)] + [(1, 0)]
    assert all(0 < s.propensity <= 1 for s in first.slots)
    anonymous = next(x for x in logs if x.request_id == "req-anon")
    assert anonymous.user_id == "" and anonymous.slots, "a non-profiling page is logged without its user"
    assert len(logs) == 6  # the two warm-up calls, the page, the row, the similar items, the non-profiling page


def test_fresh_features_change_the_next_response(isolated: Settings, tmp_path: Path, world: kit.World) -> None:
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False)
    user = kit.heavy_user(world, now_ms=NOW)
    env.seed_features(settings, world, {"u2": user})
    env.publish_model(settings, world, tmp_path)

    async def scenario() -> tuple[pb.HomepageResponse, pb.HomepageResponse]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        try:
            req = pb.HomepageRequest(user_id="u2", context=_ctx(), n_rows=3, items_per_row=10)
            before = await ranker.GetHomepage(req, timeout=2)
            # What the speed layer does after a play of i99: a new recent item, written through Feast.
            await asyncio.to_thread(
                env.write_users, settings, {"u2": replace(user, recent_items=("i99", *user.recent_items))}
            )
            after = await ranker.GetHomepage(req, timeout=2)
        finally:
            await channel.close()
            await running.stop(1.0)
        return before, after

    before, after = asyncio.run(scenario())
    assert before.rows[1].title == "Because you watched Title i0"
    assert after.rows[1].title == "Because you watched Title i99"
    assert "i99" not in [i.item_id for r in after.rows for i in r.items]
    assert [i.item_id for i in before.rows[0].items] != [i.item_id for i in after.rows[0].items], (
        "the session vector moved the FOR_YOU row"
    )


def test_trending_row_only_from_the_speed_layer_s_counts(isolated: Settings, tmp_path: Path, world: kit.World) -> None:
    """No item_fresh counts yet: no row titled "Trending now" (never the popularity list under that title),
    "Popular right now" full, GetRow(TRENDING) says it fell back. Counts written through Feast, as the speed
    layer does: "Trending now" appears at the next refresh with those items."""
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False)
    env.seed_features(settings, world, {"u1": kit.heavy_user(world, now_ms=NOW)})
    env.publish_model(settings, world, tmp_path)
    counted = {"i140": 9, "i141": 7, "i142": 5}

    async def scenario() -> tuple[pb.HomepageResponse, pb.RowResponse, pb.RowResponse, pb.HomepageResponse]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        try:
            page = await ranker.GetHomepage(
                pb.HomepageRequest(user_id="u1", context=_ctx(), n_rows=5, items_per_row=10), timeout=2
            )
            row_req = pb.RowRequest(user_id="nobody", row_type=pb.TRENDING, n_items=5)
            fallback = await ranker.GetRow(row_req, timeout=2)
            store = apply_definitions(settings)
            ts = pd.Timestamp(datetime.now(tz=UTC))
            rows = [
                {
                    "item_id": i,
                    "trending_1h": c,
                    "trending_window_end_ms": NOW,
                    "decayed_popularity": float(c),
                    "last_event_ms": NOW,
                    # the weeks-long popularity too: FOR_YOU's recent-popularity part then takes this tiny world's
                    # few counted items first, and the trending row still shows them (it backfills with items
                    # placed higher on the page when the dedup leaves it fewer than a row)
                    "popularity_recent": float(c),
                    "popularity_recent_7d": float(c),
                    "popularity_recent_365d": float(c),
                    "event_timestamp": ts,
                }
                for i, c in counted.items()
            ]
            await asyncio.to_thread(store.write_to_online_store, ITEM_FRESH_VIEW, pd.DataFrame(rows))
            trending, waited = fallback, time.monotonic()
            while trending.row.type != pb.TRENDING and time.monotonic() - waited < 10:  # refresh every 0.5 s
                await asyncio.sleep(0.2)
                trending = await ranker.GetRow(row_req, timeout=2)
            after = await ranker.GetHomepage(
                pb.HomepageRequest(user_id="u1", context=_ctx(), n_rows=5, items_per_row=10), timeout=2
            )
        finally:
            await channel.close()
            await running.stop(1.0)
        return page, fallback, trending, after

    page, fallback, trending, after = asyncio.run(scenario())
    assert list(page.degraded) == [] and len(page.rows) == 5
    assert all(r.type != pb.TRENDING and r.title != "Trending now" for r in page.rows)
    popular = [r for r in page.rows if r.type == pb.POPULAR]
    assert len(popular) == 1 and popular[0].title == "Popular right now" and len(popular[0].items) == 10
    assert fallback.row.type == pb.POPULAR and "row:trending_unavailable" in fallback.degraded
    assert trending.row.type == pb.TRENDING and trending.row.title == "Trending now"
    assert {i.item_id for i in trending.row.items} == set(counted) and list(trending.degraded) == ["user:cold_start"]
    assert [r.type for r in after.rows][2] == pb.TRENDING, "the row takes its place once counts exist"


def test_each_kind_of_invalid_request_gets_invalid_argument(
    isolated: Settings, tmp_path: Path, world: kit.World
) -> None:
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False)
    env.seed_features(settings, world, {})
    env.publish_model(settings, world, tmp_path)
    bad = [
        ("GetHomepage", pb.HomepageRequest(user_id=""), 2.0, "user_id is empty"),
        ("GetHomepage", pb.HomepageRequest(user_id="x" * 500), 2.0, "500 characters"),
        ("GetHomepage", pb.HomepageRequest(user_id="u", n_rows=1000), 2.0, "n_rows"),
        ("GetHomepage", pb.HomepageRequest(user_id="u", items_per_row=-3), 2.0, "items_per_row"),
        ("GetHomepage", pb.HomepageRequest(user_id="u", context=pb.RequestContext(device=77)), 2.0, "device 77"),
        ("GetHomepage", pb.HomepageRequest(user_id="u"), 3600.0, "deadline"),
        ("GetRow", pb.RowRequest(user_id="u", row_type=9), 2.0, "row_type 9"),
        ("GetSimilarItems", pb.SimilarItemsRequest(item_id=""), 2.0, "item_id is empty"),
    ]

    async def scenario() -> list[tuple[grpc.StatusCode, str]]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        out = []
        try:
            for method, req, timeout, _ in bad:
                try:
                    await getattr(ranker, method)(req, timeout=timeout)
                    out.append((grpc.StatusCode.OK, ""))
                except grpc.aio.AioRpcError as exc:
                    out.append((exc.code(), exc.details() or ""))
            ok = await ranker.GetHomepage(pb.HomepageRequest(user_id="u1"), timeout=2)
            assert ok.rows, "the server still serves after bad requests"
        finally:
            await channel.close()
            await running.stop(1.0)
        return out

    for (code, details), (_, _, _, message) in zip(asyncio.run(scenario()), bad, strict=True):
        assert code == grpc.StatusCode.INVALID_ARGUMENT and message in details, (code, details)


def test_hot_swap_under_steady_load_fails_no_request(isolated: Settings, tmp_path: Path, world: kit.World) -> None:
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False)
    env.seed_features(settings, world, {"u1": kit.heavy_user(world, now_ms=NOW)})
    v1 = env.publish_model(settings, world, tmp_path, seed=1)
    registry = ModelRegistry(settings.paths.registry_root)

    async def scenario() -> tuple[list[str], list[str]]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        versions: list[str] = []
        errors: list[str] = []
        stop = asyncio.Event()

        async def client(k: int) -> None:
            while not stop.is_set():
                try:
                    r = await ranker.GetHomepage(pb.HomepageRequest(user_id=f"u{k % 5}", context=_ctx()), timeout=2)
                    versions.append(r.model_version)
                except grpc.aio.AioRpcError as exc:
                    errors.append(f"{exc.code()}: {exc.details()}")
                await asyncio.sleep(0.005)

        clients = [asyncio.create_task(client(k)) for k in range(4)]
        try:
            await asyncio.sleep(0.5)
            bad = await asyncio.to_thread(kit.publish, registry, world, tmp_path, seed=2)
            await asyncio.to_thread(kit.corrupt, bad)
            await asyncio.sleep(1.0)  # several polls: the corrupt version is refused, v1 keeps serving
            assert running.holder.current is not None and running.holder.current.version == v1
            v3 = await asyncio.to_thread(kit.publish, registry, world, tmp_path, seed=3)
            for _ in range(100):
                if versions and versions[-1] == v3.version:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.gather(*clients)
            await channel.close()
            await running.stop(1.0)
        return versions, errors

    versions, errors = asyncio.run(scenario())
    assert errors == []
    assert len(versions) > 20
    assert set(versions) == {v1, versions[-1]} and versions[-1] != v1
    first_new = versions.index(versions[-1])
    assert set(versions[first_new:]) == {versions[-1]}, "the swap is atomic: never back to the old model"


def test_direct_redis_read_equals_feast_sdk(isolated: Settings, tmp_path: Path, world: kit.World) -> None:
    settings = env.serving_settings(isolated, tmp_path)
    user = replace(
        kit.heavy_user(world, now_ms=NOW),
        hidden_items=frozenset({"i40", "i41"}),
        top_k_items=("i50", "i51", "i52"),
        top_k_scores=(0.75, 0.5, 0.25),
        seen_hashes=seen.encode(["i7", "i8", "i60"]),
    )
    env.seed_features(settings, world, {"u1": user})
    env.write_users(settings, {"old": kit.heavy_user(world, now_ms=NOW)}, newer_fields=False)

    async def reads() -> tuple:
        direct = RedisFeatureReader(settings.redis, settings.feast.project)
        feast = FeastFeatureReader(settings)
        ids = [*world.item_ids[:20], "missing"]
        try:
            return (
                await direct.read_user("u1"),
                await feast.read_user("u1"),
                await direct.read_user("nobody"),
                await feast.read_user("nobody"),
                await direct.read_items(ids),
                await feast.read_items(ids),
                await direct.read_user("old"),
                await feast.read_user("old"),
            )
        finally:
            await direct.close()

    d_user, f_user, d_none, f_none, d_items, f_items, d_old, f_old = asyncio.run(reads())
    assert d_none is None and f_none is None
    assert d_user is not None and d_user.recent_items == user.recent_items
    assert d_user.first_event_ms == user.first_event_ms and d_user.n_events == user.n_events
    assert np.allclose(d_user.genre_profile, user.genre_profile)
    assert d_user.hidden_items == user.hidden_items and d_user.top_k_items == user.top_k_items
    assert d_user.top_k_scores == user.top_k_scores  # Float32 values exactly representable
    assert d_user.seen_hashes == user.seen_hashes and seen.decode(d_user.seen_hashes).tolist() == sorted(
        seen.hashes(["i7", "i8", "i60"]).tolist()
    )
    assert d_user == f_user
    assert set(d_items) == set(world.item_ids[:20]) and d_items == f_items
    assert d_old is not None and d_old.recent_items and d_old == f_old
    assert d_old.hidden_items == frozenset() and d_old.top_k_items == () and d_old.top_k_scores == ()
    assert d_old.seen_hashes == b""


def test_hidden_items_and_batch_top_k_through_redis(isolated: Settings, tmp_path: Path, world: kit.World) -> None:
    """Written through Feast's online write API like the speed and batch layers do; served over gRPC."""
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False, exploration_rate=0.0)
    top_k = tuple(world.item_ids[100:112])
    heavy = kit.heavy_user(world, now_ms=NOW)
    # "newcomer" is not in the model (no ALS vector) and has no session: FOR_YOU can only come from the top-K.
    newcomer = replace(
        heavy,
        recent_items=(),
        last_event_ms=None,
        top_k_items=top_k,
        top_k_scores=tuple(1.0 / (1 + k) for k in range(len(top_k))),
    )
    env.seed_features(settings, world, {"u1": heavy, "newcomer": newcomer})
    env.publish_model(settings, world, tmp_path)

    async def pages() -> list[pb.HomepageResponse]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        try:
            out = []
            for user in ("u1", "u1", "newcomer"):
                out.append(
                    await ranker.GetHomepage(
                        pb.HomepageRequest(user_id=user, context=_ctx(), n_rows=5, items_per_row=10, request_id="same"),
                        timeout=5,
                    )
                )
                if len(out) == 1:  # the user hides what the first page showed
                    shown = [i.item_id for r in out[0].rows for i in r.items][:8]
                    await asyncio.to_thread(
                        env.write_users, settings, {"u1": replace(heavy, hidden_items=frozenset(shown))}
                    )
            return out
        finally:
            await channel.close()
            await running.stop(1.0)

    before, after, newcomer_page = asyncio.run(pages())
    hidden = set([i.item_id for r in before.rows for i in r.items][:8])
    served_after = {i.item_id for r in after.rows for i in r.items}
    assert len(hidden) == 8 and not hidden & served_after and len(served_after) == 50
    assert list(newcomer_page.degraded) == [] and newcomer_page.rows[0].type == pb.FOR_YOU
    assert {i.item_id for i in newcomer_page.rows[0].items} <= set(top_k)


def test_a_user_who_watched_the_head_of_the_lists_still_gets_full_rows(
    isolated: Settings, tmp_path: Path, world: kit.World
) -> None:
    """A heavy user's batch history (``seen_hashes`` in Redis) covers the 80 most popular titles, more than a
    row's candidates: "Popular right now" still holds a full row of titles from further down the list, none of
    them watched (the list skips what was seen before it is cut); no row of the page shows a watched title."""
    settings = env.serving_settings(isolated, tmp_path, log_impressions=False, exploration_rate=0.0)
    watched = world.popular[:80]
    binge = replace(kit.heavy_user(world, now_ms=NOW), seen_hashes=seen.encode(watched))
    env.seed_features(settings, world, {"binge": binge})
    env.publish_model(settings, world, tmp_path)

    async def ask() -> tuple[pb.RowResponse, pb.HomepageResponse]:
        running = await start(settings, catalog=world.catalog(), load_catalog=False)
        channel, ranker = env.stub(running.port)
        try:
            row = await ranker.GetRow(pb.RowRequest(user_id="binge", row_type=pb.POPULAR, n_items=20), timeout=5)
            page = await ranker.GetHomepage(
                pb.HomepageRequest(user_id="binge", context=_ctx(), n_rows=5, items_per_row=10), timeout=5
            )
            return row, page
        finally:
            await channel.close()
            await running.stop(1.0)

    row, page = asyncio.run(ask())
    popular = [i.item_id for i in row.row.items]
    assert row.row.type == pb.POPULAR and list(row.degraded) == [] and len(popular) == 20
    assert not set(popular) & set(watched)
    assert popular == sorted(popular, key=world.popular.index), "in the list's order past what was watched"
    assert len(page.rows) == 5 and all(r.items for r in page.rows)
    assert not {i.item_id for r in page.rows for i in r.items} & set(watched)
