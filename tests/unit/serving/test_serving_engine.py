"""The ranking pipeline on plain data: the tiny model, in-memory features and sink, no services."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np
import pytest

from hybridrec import fresh_features, fusion
from hybridrec.metrics import genre_entropy
from hybridrec.model_artifacts import unit_rows
from hybridrec.neighbours import Neighbours
from hybridrec.registry import ModelRegistry
from serving.catalog import Catalog
from serving.config import ServingConfig, Variant
from serving.domain import Context, HomepageQuery, RowKind, SimilarQuery
from serving.engine import Engine
from serving.features.base import UserFeatures
from serving.features.memory import MemoryFeatures
from serving.logic.assembly import genres_of
from serving.logic.candidates import personal_cands
from serving.logic.filters import seen_set
from serving.metrics import Metrics
from serving.model.bundle import LoadedModel, _neighbours, load_version
from serving.sink.memory import MemorySink
from serving.trending import Trend
from tests.support import serving_kit as kit

NOW = 1_700_000_000_000
# Budgets derive from the deadline (10 s in these tests), so the defaults never degrade a page on a slow machine.
RELAXED = ServingConfig()


@dataclass
class Holder:
    current: LoadedModel | None


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[kit.World, LoadedModel]:
    tmp = tmp_path_factory.mktemp("model")
    w = kit.world()
    version = kit.publish(ModelRegistry(tmp / "registry"), w, tmp)
    model = load_version(version)
    model.attach_item_features(w.item_features(), {})
    return w, model


def _engine(
    w: kit.World, model: LoadedModel | None, feats: MemoryFeatures | None = None, cfg: ServingConfig | None = None
) -> tuple[Engine, MemorySink, MemoryFeatures]:
    feats = feats or MemoryFeatures(users={"u1": kit.heavy_user(w, now_ms=NOW)}, items=w.item_features())
    sink = MemorySink()
    trend = Trend(w.item_ids[50:70], list(range(20, 0, -1)))
    return Engine(cfg or RELAXED, Holder(model), feats, sink, Metrics(), w.catalog(), trend), sink, feats


def _q(user: str = "u1", **kw: object) -> HomepageQuery:
    base = HomepageQuery(
        user_id=user,
        context=Context("TV", "DE", NOW),
        n_rows=5,
        items_per_row=10,
        personalized=True,
        request_id="r1",
        deadline_s=10.0,
    )
    return replace(base, **kw)


def test_personal_page_rows_are_titled_deduped_filtered_and_logged(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    engine, sink, feats = _engine(w, model)
    page = asyncio.run(engine.homepage(_q()))
    assert page.degraded == [] and page.model_version == model.version and page.variant == "control"
    kinds = [r.kind for r in page.rows]
    assert kinds[:3] == [RowKind.FOR_YOU, RowKind.BECAUSE_YOU_WATCHED, RowKind.TRENDING] and len(kinds) == 5
    assert page.rows[1].title == f"Because you watched Title {w.item_ids[0]}"
    served = [s.item_id for r in page.rows for s in r.items]
    assert len(served) == len(set(served)) == 50, "no item twice on a page, rows full"
    assert not set(served) & set(feats.users["u1"].recent_items), "already-watched items are filtered"
    assert all(s.reason and 0 < s.propensity <= 1 for r in page.rows for s in r.items)
    assert set(page.stage_ms) >= {"features", "candidates", "scoring", "assemble"}
    assert [p.request_id for p, _ in sink.pages] == ["r1"]
    # Same request, same page: exploration is seeded by the request id.
    again = asyncio.run(engine.homepage(_q()))
    assert [s.item_id for r in again.rows for s in r.items] == served


def test_non_personalized_reads_nothing_about_the_user(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    engine, _, feats = _engine(w, model)
    feats.down = True  # any user read would show up as a degraded stage
    page = asyncio.run(engine.homepage(_q(personalized=False)))
    assert page.degraded == [] and not page.personalized
    assert {r.kind for r in page.rows} <= {RowKind.TRENDING, RowKind.TOP_GENRE, RowKind.POPULAR}
    assert all(r.title.startswith("Popular") or r.kind is RowKind.TRENDING for r in page.rows)


def test_unknown_user_gets_cold_start_rows(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    engine, _, _ = _engine(w, model)
    page = asyncio.run(engine.homepage(_q(user="nobody")))
    assert page.degraded == ["user:cold_start"]
    assert [r.kind for r in page.rows][:2] == [RowKind.TRENDING, RowKind.TOP_GENRE]
    assert all(r.items for r in page.rows)


@pytest.mark.parametrize(
    ("delay", "down", "reason"), [(1.0, False, "features:timeout"), (0.0, True, "features:unavailable")]
)
def test_slow_or_down_feature_store_degrades_within_the_deadline(
    loaded: tuple[kit.World, LoadedModel], delay: float, down: bool, reason: str
) -> None:
    w, model = loaded
    engine, _, feats = _engine(w, model)
    feats.delay_s, feats.down = delay, down
    t0 = time.perf_counter()
    page = asyncio.run(engine.homepage(_q()))
    assert time.perf_counter() - t0 < delay or delay == 0  # did not wait for the store
    assert page.degraded == [reason]
    assert page.rows and page.rows[0].kind is RowKind.FOR_YOU, "the ALS vector still personalises"


def test_without_trending_counts_no_trending_row_popular_kept_one_forward_pass(
    loaded: tuple[kit.World, LoadedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No counts from the speed layer: no row titled "Trending now" (it used to show the popularity list under
    that title), "Popular right now" keeps its items, and the page is scored in one forward pass (the emptied
    Popular row used to pull a spare row into a second pass)."""
    w, model = loaded
    engine, _, _ = _engine(w, model)
    engine.trend = Trend()
    calls: list[int] = []
    score = model.score
    monkeypatch.setattr(model, "score", lambda *a, **kw: calls.append(1) or score(*a, **kw))
    page = asyncio.run(engine.homepage(_q()))
    assert page.degraded == [] and len(page.rows) == 5
    assert all(r.kind is not RowKind.TRENDING and r.title != "Trending now" for r in page.rows)
    popular = [r for r in page.rows if r.kind is RowKind.POPULAR]
    assert len(popular) == 1 and len(popular[0].items) == 10
    assert len(calls) == 1, "one forward pass for the page"
    row = asyncio.run(engine.homepage(_q(only=RowKind.TRENDING, n_rows=1)))
    assert [r.kind for r in row.rows] == [RowKind.POPULAR] and "row:trending_unavailable" in row.degraded


def test_no_model_falls_back_to_trending(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, _ = loaded
    engine, _, _ = _engine(w, None)
    page = asyncio.run(engine.homepage(_q()))
    assert "model:unavailable" in page.degraded and page.model_version == ""
    assert page.rows and page.rows[0].kind is RowKind.TRENDING
    assert {s.item_id for s in page.rows[0].items} <= set(w.item_ids[50:70])


def test_no_time_left_gives_popularity_rows(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    # A request that arrives with no budget beyond the reserve: every stage skipped, still a full page.
    engine, _, _ = _engine(w, model)
    page = asyncio.run(engine.homepage(_q(deadline_s=RELAXED.budgets.reserve_ms / 1000)))
    assert page.degraded == ["features:no_time", "candidates:no_time"]
    assert [r.kind for r in page.rows][:2] == [RowKind.TRENDING, RowKind.TOP_GENRE] and len(page.rows) == 5


def test_a_long_deadline_waits_for_a_slow_store_instead_of_dropping_personalisation(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """The feature read gets what the deadline affords, not a fixed 20 ms: a 1 s call whose store answers in
    80 ms keeps its fresh features (the recent items seed "Because you watched")."""
    w, model = loaded
    engine, _, feats = _engine(w, model)
    feats.delay_s = 0.08
    page = asyncio.run(engine.homepage(_q(deadline_s=1.0)))
    assert page.degraded == [] and page.stage_ms["features"] >= 80
    assert any(r.kind is RowKind.BECAUSE_YOU_WATCHED for r in page.rows)
    # A 60 ms call cannot wait that long: it gives up the read within its deadline and says why (on a loaded
    # machine the measured CPU stages can leave it less than ``features_min_ms``: then it never starts the read).
    page = asyncio.run(engine.homepage(_q(deadline_s=0.06)))
    assert page.degraded[0] in ("features:timeout", "features:no_time") and page.stage_ms["features"] < 60
    assert page.rows


def test_get_row_and_variant_overrides(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    cfg = RELAXED.model_copy(update={"variants": (Variant(name="explore_more", exploration_rate=0.5),)})
    engine, _, _ = _engine(w, model, cfg=cfg)
    page = asyncio.run(engine.homepage(_q(only=RowKind.BECAUSE_YOU_WATCHED, n_rows=1, items_per_row=20)))
    assert [r.kind for r in page.rows] == [RowKind.BECAUSE_YOU_WATCHED] and page.variant == "explore_more"
    assert sum(s.explored for s in page.rows[0].items) >= 3


def test_get_row_of_a_type_the_user_cannot_have_falls_back_to_popular(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    engine, _, _ = _engine(w, model)
    page = asyncio.run(engine.homepage(_q(user="nobody", only=RowKind.BECAUSE_YOU_WATCHED, n_rows=1)))
    assert [r.kind for r in page.rows] == [RowKind.POPULAR] and page.rows[0].items
    assert "row:because_you_watched_unavailable" in page.degraded


def test_similar_items(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    engine, _, _ = _engine(w, model)
    version, items, degraded = asyncio.run(engine.similar(SimilarQuery(w.item_ids[5], 8, "r", 10.0)))
    assert version == model.version and degraded == [] and len(items) == 8
    assert w.item_ids[5] not in [s.item_id for s in items]
    assert items[0].reason == f"similar to Title {w.item_ids[5]}"
    _, items, degraded = asyncio.run(engine.similar(SimilarQuery("unknown", 4, "r", 10.0)))
    assert degraded == ["item:not_in_model"] and len(items) == 4


def _popularity_trap(model: LoadedModel) -> LoadedModel:
    """Item 0 is the seed; item 1 points nearly the same way with a short vector; item 2 is a "blockbuster": a
    long vector 45° off, so it wins every seed by inner product but is only the second-nearest by angle; the
    rest are orthogonal to the seed."""
    rng = np.random.default_rng(7)
    vecs = rng.normal(scale=0.05, size=model.item_vecs.shape).astype(np.float32)
    vecs[:, 0] = 0.0
    vecs[:3, :] = 0.0
    vecs[0, 0] = 1.0
    vecs[1, :2] = (0.3, 0.01)
    vecs[2, :2] = 20.0
    index, similar = faiss.IndexFlatIP(vecs.shape[1]), faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    similar.add(unit_rows(vecs))
    return replace(model, item_vecs=vecs, index=index, similar_index=similar)


def test_similar_items_are_nearest_by_angle_not_by_inner_product(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    trap = _popularity_trap(model)
    assert trap.search(trap.item_vecs[:1], 1)[1][0, 0] == 2  # inner product: the blockbuster
    for m in (trap, replace(trap, similar_index=None), replace(trap, similar_index=faiss.IndexFlatIP(3))):
        _, top = m.similar([0], 3)  # with the index, exact, broken index
        assert top[0, :3].tolist() == [0, 1, 2]
    engine, _, _ = _engine(w, trap)
    _, items, degraded = asyncio.run(engine.similar(SimilarQuery(w.item_ids[0], 2, "r", 10.0)))
    assert degraded == [] and [s.item_id for s in items] == [w.item_ids[1], w.item_ids[2]]


def test_because_you_watched_candidates_are_the_seeds_neighbours(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    trap = _popularity_trap(model)
    user = kit.heavy_user(w, now_ms=NOW)
    from serving.model import inputs as mi

    vec = trap.user_vec("u1")
    inputs = mi.user_side(user, vec, trap.item_vecs_of, NOW, fresh_features.session_gap_ms())
    cands = personal_cands(
        trap,
        user,
        vec,
        inputs,
        Trend(),
        lambda i: i,
        personalized=True,
        n_rows=5,
        only=None,
        n=RELAXED.candidates_per_row,
        session_weight=RELAXED.session_weight,
    )
    because = [c for c in cands if c.plan.kind is RowKind.BECAUSE_YOU_WATCHED and c.plan.seed_item == w.item_ids[0]]
    assert because and because[0].items[:3] == [w.item_ids[0], w.item_ids[1], w.item_ids[2]]


def test_trending_refresh_orders_by_count_and_ignores_stale_windows(loaded: tuple[kit.World, LoadedModel]) -> None:
    """Windows age by the stream's time (the newest window the speed layer wrote), not the server's clock: a
    replay of 2018 data trends the windows of 2018."""
    from serving.features.base import Trending

    w, model = loaded
    now = 1_530_000_000_000  # mid-2018
    feats = MemoryFeatures(
        trending={"i3": Trending(5, now), "i4": Trending(9, now), "i5": Trending(99, now - 10 * 3_600_000)}
    )
    engine, _, _ = _engine(w, model, feats)
    assert asyncio.run(engine.refresh_trending())
    assert engine.trend.items == ["i4", "i3"]


def test_a_new_release_the_model_does_not_know_can_trend(loaded: tuple[kit.World, LoadedModel]) -> None:
    """A catalog item published after the model was trained is read for trending and keeps its place in the
    row (the model cannot score it: it takes the score of the item trending just above it)."""
    from serving.features.base import Trending

    w, model = loaded
    now = int(time.time() * 1000)
    known = w.item_ids[40:60]
    counts = {i: Trending(100 - k, now) for k, i in enumerate(known)}
    feats = MemoryFeatures(
        users={"u1": kit.heavy_user(w, now_ms=NOW)},
        items=w.item_features(),
        trending={**counts, "new1": Trending(95, now)},
    )
    engine, _, _ = _engine(w, model, feats, cfg=RELAXED.model_copy(update={"exploration_rate": 0.0}))
    engine.catalog.update(Catalog({"new1": "Brand New"}, {"new1": ("Drama",)}))
    assert "new1" not in model.item_pos
    assert asyncio.run(engine.refresh_trending())
    assert engine.trend.items.index("new1") == 6  # after 100..95 (the tie at 95 goes by id)
    page = asyncio.run(engine.homepage(_q(only=RowKind.TRENDING, n_rows=1, items_per_row=10)))
    assert page.rows[0].kind is RowKind.TRENDING
    assert "new1" in [s.item_id for s in page.rows[0].items]


def test_checksums_are_verified_on_load(tmp_path: Path) -> None:
    w = kit.world(n_users=5, n_items=10)
    version = kit.publish(ModelRegistry(tmp_path / "registry"), w, tmp_path)
    kit.corrupt(version)
    from hybridrec.registry import CorruptArtifact

    with pytest.raises(CorruptArtifact):
        load_version(version)


def test_diversity_spreads_genres_of_personal_rows_only(loaded: tuple[kit.World, LoadedModel]) -> None:
    from hybridrec.diversity import entropy

    w, model = loaded

    def page(div: float) -> dict[RowKind, float]:
        cfg = RELAXED.model_copy(update={"diversity": div, "exploration_rate": 0.0})
        engine, _, _ = _engine(w, model, cfg=cfg)
        p = asyncio.run(engine.homepage(_q()))
        return {
            r.kind: float(entropy(genres_of(model, engine.catalog.genres, [s.item_id for s in r.items]).sum(0)))
            for r in p.rows
        }

    plain, diverse = page(0.0), page(1.0)
    assert diverse[RowKind.FOR_YOU] > plain[RowKind.FOR_YOU]
    assert diverse[RowKind.TRENDING] == plain[RowKind.TRENDING], "non-personal rows keep their order"


def test_breaker_stops_reading_a_dead_store_and_budget_skips_do_not_count(
    loaded: tuple[kit.World, LoadedModel], caplog: pytest.LogCaptureFixture
) -> None:
    w, model = loaded
    engine, _, feats = _engine(w, model, cfg=RELAXED.model_copy(update={"breaker_failures": 2}))
    for _ in range(3):  # no budget left: skipped, not the store's fault, the breaker stays closed
        asyncio.run(engine.homepage(_q(deadline_s=RELAXED.budgets.reserve_ms / 1000)))
    feats.down = True
    opened = engine.metrics.breaker_opened.labels(cause="unavailable")
    before = opened._value.get()  # the metrics registry is the process's: other tests' openings count too
    with caplog.at_level("WARNING", logger="hybridrec.serving"):
        flags = [asyncio.run(engine.homepage(_q())).degraded for _ in range(3)]
    assert flags == [["features:unavailable"], ["features:unavailable"], ["features:circuit_open"]]
    # Its opening is visible: a counter by cause and a log line naming the failure.
    assert opened._value.get() - before == 1
    assert any("breaker open" in r.message and "ConnectionError" in r.message for r in caplog.records)


def test_already_engaged_items_never_show_batch_history_and_fresh_events(loaded: tuple[kit.World, LoadedModel]) -> None:
    """The seen-filter covers the batch history (seen_hashes) and the fresh events, in every row incl. POPULAR."""
    from hybridrec import seen

    w, model = loaded
    engine, _, feats = _engine(w, model, cfg=RELAXED.model_copy(update={"exploration_rate": 0.0}))
    before = asyncio.run(engine.homepage(_q()))
    shown = [s.item_id for r in before.rows for s in r.items]
    history = set(shown[::3]) | set(model.popular[:10])  # engaged before the batch run
    user = replace(kit.heavy_user(w, now_ms=NOW), seen_hashes=seen.encode(history))
    feats.users["u1"] = user
    page = asyncio.run(engine.homepage(_q(n_rows=5)))
    served = {s.item_id for r in page.rows for s in r.items}
    assert served and not served & (history | set(user.recent_items))
    # engaged since the batch run but older than the last recent items: the speed layer's engaged_items
    earlier = tuple(sorted(served))[:5]
    feats.users["u1"] = replace(user, engaged_items=(*user.recent_items, *earlier))
    again = {s.item_id for r in asyncio.run(engine.homepage(_q(n_rows=5))).rows for s in r.items}
    assert again and not again & set(earlier)
    popular = asyncio.run(engine.homepage(_q(only=RowKind.POPULAR, n_rows=1)))
    assert popular.rows[0].items and not {s.item_id for s in popular.rows[0].items} & history


def test_hidden_items_are_never_served_nor_seed_a_row(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    base = kit.heavy_user(w, now_ms=NOW)
    first = asyncio.run(_engine(w, model)[0].homepage(_q()))
    shown = [s.item_id for r in first.rows for s in r.items][:6]
    hidden = frozenset([*shown, w.item_ids[0]])  # w.item_ids[0] is the newest recent item: the first seed
    feats = MemoryFeatures(users={"u1": replace(base, hidden_items=hidden)}, items=w.item_features())
    engine, _, _ = _engine(w, model, feats, cfg=RELAXED.model_copy(update={"exploration_rate": 0.5}))
    page = asyncio.run(engine.homepage(_q()))
    served = {s.item_id for r in page.rows for s in r.items}
    assert served and not served & hidden
    assert all(r.title != f"Because you watched Title {w.item_ids[0]}" for r in page.rows)
    assert any(r.kind is RowKind.BECAUSE_YOU_WATCHED for r in page.rows), "the other recent items still seed rows"


def test_batch_top_k_is_a_candidate_source_of_for_you(loaded: tuple[kit.World, LoadedModel]) -> None:
    w, model = loaded
    top_k = tuple(w.item_ids[100:115])
    # A user the model has no ALS vector for and no session: the precomputed top-K alone makes FOR_YOU.
    user = replace(
        kit.heavy_user(w, now_ms=NOW),
        recent_items=(),
        last_event_ms=None,
        top_k_items=top_k,
        top_k_scores=tuple(float(x) for x in range(15, 0, -1)),
    )
    feats = MemoryFeatures(users={"new": user}, items=w.item_features())
    engine, _, _ = _engine(w, model, feats, cfg=RELAXED.model_copy(update={"exploration_rate": 0.0}))
    page = asyncio.run(engine.homepage(_q(user="new")))
    assert page.rows[0].kind is RowKind.FOR_YOU and {s.item_id for s in page.rows[0].items} <= set(top_k)
    # Without it the same user has no FOR_YOU row.
    feats.users["new"] = replace(user, top_k_items=(), top_k_scores=())
    page = asyncio.run(engine.homepage(_q(user="new")))
    assert RowKind.FOR_YOU not in [r.kind for r in page.rows]
    # With an ALS vector the two sources are fused: top-K items the neighbours lack still make the row.
    feats.users["u1"] = replace(kit.heavy_user(w, now_ms=NOW), top_k_items=top_k)
    with_top_k = asyncio.run(engine.homepage(_q(items_per_row=50)))
    feats.users["u1"] = kit.heavy_user(w, now_ms=NOW)
    without = asyncio.run(engine.homepage(_q(items_per_row=50)))
    mine, before = ({s.item_id for s in p.rows[0].items} for p in (with_top_k, without))
    assert (mine - before) & set(top_k)


def test_item_to_item_neighbours_of_the_newest_engagements_join_and_lead_for_you(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    from hybridrec.neighbours import cooccurrence
    from serving.logic.assembly import I2I_REASON

    w, model = loaded
    # Sessions in which i5 was always followed by i100..i104: those are i5's neighbours, nothing else is.
    seqs = [[5, 100 + k] for k in range(5) for _ in range(3)]
    counts = np.bincount(np.concatenate(seqs), minlength=len(w.item_ids)).astype(float)
    with_nb = replace(model, neighbours=cooccurrence(seqs, counts, window=1))
    user = replace(kit.heavy_user(w, now_ms=NOW), recent_items=("i5",), engaged_items=("i5",))
    feats = MemoryFeatures(users={"u1": user}, items=w.item_features())
    cfg = RELAXED.model_copy(update={"exploration_rate": 0.0, "diversity": 0.0})
    engine, _, _ = _engine(w, with_nb, feats, cfg=cfg)
    row = asyncio.run(engine.homepage(_q())).rows[0]
    assert row.kind is RowKind.FOR_YOU
    brought = [s.item_id for s in row.items if s.reason == I2I_REASON]
    assert set(brought) == {f"i{100 + k}" for k in range(5)}
    assert {s.item_id for s in row.items[:3]} <= set(brought), "the fusion puts the neighbours first"
    # Switched off (or a version published without neighbours): the row is the ranker's alone.
    off, _, _ = _engine(w, with_nb, feats, cfg=cfg.model_copy(update={"i2i_seeds": 0}))
    assert all(s.reason != I2I_REASON for s in asyncio.run(off.homepage(_q())).rows[0].items)


def test_the_sequence_model_blends_into_the_item_to_item_prior_and_leads_for_you(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """A version with a next-item model: after i5 users went on to i7 (the order), while i5's co-occurrence
    neighbours are i100..i104; the blended prior brings i7 to the top of FOR_YOU, and ``next_item_weight`` 0 (or
    a version without the model) serves the neighbours alone."""
    from hybridrec import sequence
    from hybridrec.neighbours import cooccurrence
    from serving.logic.prior import Weights, prior

    w, model = loaded
    seqs = [[5, 100 + k] for k in range(5) for _ in range(3)]
    counts = np.bincount(np.concatenate(seqs), minlength=len(w.item_ids)).astype(float)
    cfg_seq = sequence.SequenceConfig(dim=16, blocks=1, max_len=4, dropout=0.0, epochs=40, lr=1e-2)
    seq_model = sequence.train([[5, 7]] * 20, len(w.item_ids), cfg_seq)
    both = replace(model, neighbours=cooccurrence(seqs, counts, window=1), next_item=seq_model)
    user = replace(kit.heavy_user(w, now_ms=NOW), recent_items=("i5",), engaged_items=("i5",))
    blended = prior(both, user, frozenset(), None, 10, 0.7, Weights(next_item=0.7))
    assert blended is not None and int(np.argmax(blended.score)) == both.item_pos["i7"]
    assert blended.score[both.item_pos["i5"]] == 0.0  # engaged: never proposed
    feats = MemoryFeatures(users={"u1": user}, items=w.item_features())
    # the row in the prior's order (the untrained test ranker's share of the rank fusion left out)
    cfg = RELAXED.model_copy(
        update={"exploration_rate": 0.0, "diversity": 0.0, "i2i_weight": 1.0, "next_item_weight": 0.7}
    )
    engine, _, _ = _engine(w, both, feats, cfg=cfg)
    row = asyncio.run(engine.homepage(_q())).rows[0]
    assert row.kind is RowKind.FOR_YOU and row.items[0].item_id == "i7", row.items[:5]
    off, _, _ = _engine(w, both, feats, cfg=cfg.model_copy(update={"next_item_weight": 0.0}))
    alone, _, _ = _engine(w, replace(both, next_item=None), feats, cfg=cfg)
    for engine in (off, alone):
        assert prior(replace(both, next_item=None), user, frozenset(), None, 10, 0.7, Weights(next_item=0.7)) is None
        top3 = [s.item_id for s in asyncio.run(engine.homepage(_q())).rows[0].items[:3]]
        assert set(top3) <= {f"i{100 + k}" for k in range(5)}, top3


def test_no_model_ever_serves_speed_layer_trending_and_popularity_of_the_catalog(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """Fresh install (batch never ran): trending, popular and popular-in-genre rows from the speed layer's
    item_fresh of the catalog's items, flagged model:unavailable, instead of an empty page."""
    from serving.features.base import Trending

    w, _ = loaded
    now = int(time.time() * 1000)
    hour = 3_600_000
    fresh = {
        "i3": Trending(5, now, 2.0, now),
        "i4": Trending(9, now, 1.0, now),
        # popular long ago: its 40 events decayed over 5 half-lives weigh 1.25 now, less than i3's 2
        "i5": Trending(0, 0, 40.0, now - 30 * hour),
        **{f"i{k}": Trending(0, 0, 100.0 - k, now) for k in range(10, 40)},
    }
    feats = MemoryFeatures(trending=fresh)
    engine, sink, _ = _engine(w, None, feats)
    engine.trend = Trend()
    assert asyncio.run(engine.refresh_trending())
    assert engine.trend.items == ["i4", "i3"]
    popular = engine.trend.popular
    assert popular[:3] == ["i10", "i11", "i12"] and popular.index("i3") < popular.index("i5") < popular.index("i4")
    page = asyncio.run(engine.homepage(_q(n_rows=4)))
    assert "model:unavailable" in page.degraded and page.model_version == ""
    kinds = [r.kind for r in page.rows]
    assert kinds[0] is RowKind.TRENDING and RowKind.POPULAR in kinds and RowKind.TOP_GENRE in kinds
    assert [s.item_id for s in page.rows[0].items] == ["i4", "i3"]
    served = [s.item_id for r in page.rows for s in r.items]
    assert len(served) == len(set(served)) and set(served) <= set(fresh)
    genre_row = next(r for r in page.rows if r.kind is RowKind.TOP_GENRE)
    genre = genre_row.title.removeprefix("Popular in ")
    assert all(genre in w.item_genres[s.item_id] for s in genre_row.items)
    assert sink.pages, "the degraded page is logged like any other"
    # The same engine once no catalog was read either: nothing is known, an empty page, still flagged.
    bare = Engine(RELAXED, Holder(None), feats, MemorySink(), Metrics())
    assert not asyncio.run(bare.refresh_trending())
    empty = asyncio.run(bare.homepage(_q()))
    assert empty.rows == [] and "model:unavailable" in empty.degraded


def test_recent_popularity_is_decayed_to_the_stream_s_time_not_the_wall_clock(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """The trending refresh turns the speed layer's ``popularity_recent`` into log(1 + count decayed to the
    newest time the stream has reached) for every model item: a 2018 replay decays by 2018's clock."""
    from serving.features.base import Trending

    w, model = loaded
    now = 1_530_000_000_000  # mid-2018: the server's clock is years later
    half = fresh_features.recent_popularity_half_life_ms()
    feats = MemoryFeatures(
        trending={
            "i3": Trending(0, 0, 0.0, now, 8.0),  # engaged just now
            "i4": Trending(0, 0, 0.0, now - half, 8.0),  # one half-life before: counts 4
            "i5": Trending(2, now, 1.0, now),  # no recent popularity: 0
            "gone": Trending(0, 0, 0.0, now, 50.0),  # not in the model: left out
        }
    )
    engine, _, _ = _engine(w, model, feats)
    assert asyncio.run(engine.refresh_trending())
    recent = engine.trend.recent
    assert recent is not None and len(recent) == len(model.item_ids) and engine.trend.version == model.version
    assert recent[model.item_pos["i3"]] == pytest.approx(np.log1p(8.0))
    assert recent[model.item_pos["i4"]] == pytest.approx(np.log1p(4.0))
    assert recent[model.item_pos["i5"]] == 0.0 and np.count_nonzero(recent) == 2


def test_recent_popularity_is_read_at_the_half_life_the_version_chose(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """With ``prior_weights`` 'version' the trending refresh reads the speed layer's count kept at the version's
    half-life (and decays it with that half-life); with 'config', or a version without a choice, the 30-day one."""
    import dataclasses

    from serving.features.base import Trending

    w, model = loaded
    now = 1_530_000_000_000
    week, month = 7 * fresh_features.DAY_MS, fresh_features.recent_popularity_half_life_ms()
    t = Trending(0, 0, 0.0, now - week, 8.0, {month: 8.0, week: 2.0})
    feats = MemoryFeatures(trending={"i3": t, "i5": Trending(2, now, 1.0, now)})  # i5: the stream is at ``now``
    chose = dataclasses.replace(model, recent_half_life_ms=week)
    for cfg, m, want in (
        (ServingConfig(prior_weights="version"), chose, 2.0 / 2),  # the 7-day count, one half-life old
        (ServingConfig(prior_weights="config"), chose, 8.0 * 2 ** (-week / month)),
        (ServingConfig(prior_weights="version"), model, 8.0 * 2 ** (-week / month)),  # no choice in the version
    ):
        engine, _, _ = _engine(w, m, feats, cfg)
        assert asyncio.run(engine.refresh_trending())
        assert engine.trend.recent is not None
        assert engine.trend.recent[m.item_pos["i3"]] == pytest.approx(np.log1p(want), rel=1e-6)


def test_ease_neighbours_and_recent_popularity_join_for_you_with_their_own_reasons(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """FOR_YOU's prior fuses the co-occurrence neighbours of the newest engagements (i5 → i100..i102), EASE's
    neighbours of everything the user engaged with (i6 → i110..i112) and the recent popularity (i115..i117); each
    part's items join the row, say which part brought them, and a part whose weight is 0 (or that the version
    lacks) is left out."""
    from hybridrec.neighbours import Neighbours, cooccurrence
    from serving.logic.assembly import EASE_REASON, I2I_REASON, RECENT_REASON
    from serving.logic.prior import Weights, prior

    w, model = loaded
    n = len(w.item_ids)
    seqs = [[5, 100 + k] for k in range(3) for _ in range(3)]
    counts = np.bincount(np.concatenate(seqs), minlength=n).astype(float)
    ease = Neighbours(
        np.concatenate(([0] * 7, [3] * (n - 6))).astype(np.int64),  # only item 6 has lists
        np.array([110, 111, 112], np.int32),
        np.array([0.3, 0.2, 0.1], np.float32),
    )
    both = replace(model, neighbours=cooccurrence(seqs, counts, window=1), ease=ease)
    recent = np.zeros(n, np.float32)
    recent[[115, 116, 117]] = [3.0, 2.5, 2.0]
    user = replace(kit.heavy_user(w, now_ms=NOW), recent_items=("i5", "i6"), engaged_items=("i5", "i6"))
    got = prior(both, user, frozenset(), recent, 10, 0.7, Weights(ease=0.3, recent=0.3))
    assert got is not None
    lead = dict(zip((100, 110, 115), got.lead(np.array([100, 110, 115])).tolist(), strict=True))
    assert lead == {100: 0, 110: 1, 115: 2}
    assert got.score[5] == got.score[6] == 0.0  # engaged: never proposed
    feats = MemoryFeatures(users={"u1": user}, items=w.item_features())
    cfg = RELAXED.model_copy(
        update={
            "exploration_rate": 0.0,
            "diversity": 0.0,
            "i2i_weight": 1.0,
            "ease_weight": 0.3,
            "recent_popularity_weight": 0.3,
        }
    )
    engine, _, _ = _engine(w, both, feats, cfg=cfg)
    engine.trend = replace(engine.trend, recent=recent, version=both.version)
    row = asyncio.run(engine.homepage(_q(items_per_row=12))).rows[0]
    assert row.kind is RowKind.FOR_YOU
    by_reason = {r: {s.item_id for s in row.items if s.reason == r} for r in (I2I_REASON, EASE_REASON, RECENT_REASON)}
    assert by_reason[I2I_REASON] >= {"i100", "i101", "i102"}, row.items
    assert by_reason[EASE_REASON] >= {"i110", "i111", "i112"}, row.items
    assert by_reason[RECENT_REASON] >= {"i115", "i116", "i117"}, row.items
    # EASE's weight 0 and no recent popularity: the co-occurrence lists alone, as before
    off, _, _ = _engine(w, both, feats, cfg=cfg.model_copy(update={"ease_weight": 0.0}))
    assert prior(both, user, frozenset(), None, 10, 0.7, Weights(ease=0.0, recent=0.3)) is None
    items = [s for s in asyncio.run(off.homepage(_q(items_per_row=12))).rows[0].items]
    assert not {s.item_id for s in items} & {"i110", "i111", "i112"}
    assert all(s.reason != EASE_REASON for s in items)


def test_similar_lists_kept_per_seed_answer_as_a_fresh_search(loaded: tuple[kit.World, LoadedModel]) -> None:
    """Kept neighbour lists: any mix of seeds and lengths (a shorter ask reads a longer list's prefix, a longer
    one searches again) gives what the index gives; past the cap the oldest seeds go; a replaced model (another
    index, another version) starts empty."""
    _, model = loaded
    n = len(model.item_ids)
    rng = np.random.default_rng(2)
    for _ in range(40):
        seeds = rng.integers(0, n, rng.integers(1, 4)).tolist()
        k = int(rng.integers(1, n + 3))
        got = model.similar(seeds, k)
        want = _neighbours(model.similar_index, unit_rows(model.item_vecs[seeds]), lambda: model.item_unit, min(k, n))
        assert np.array_equal(got[1], want[1]) and np.allclose(got[0], want[0])
    assert model._similar and replace(model)._similar == {}
    small = replace(model)
    small.SIMILAR_CACHE = 2
    small.similar([0, 1, 2], 3)
    assert list(small._similar) == [1, 2]
    assert model.similar([], 5)[1].shape == (0, 5)


@dataclass
class FusedWorld:
    """A version with a learned fusion over co-occurrence lists, the speed layer's counts at every half-life the
    fusion reads, and a user whose last event (an impression) is newer than their last engagement."""

    world: kit.World
    model: LoadedModel
    learned: fusion.Learned
    nb: Neighbours
    user: UserFeatures
    feats: MemoryFeatures
    cfg: ServingConfig


def _fused_world(loaded: tuple[kit.World, LoadedModel]) -> FusedWorld:
    from hybridrec.neighbours import cooccurrence
    from serving.features.base import Trending

    w, model = loaded
    n = len(w.item_ids)
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, n, 8).tolist() for _ in range(60)]
    nb = cooccurrence(seqs, np.bincount(np.concatenate(seqs), minlength=n).astype(float), window=3)
    f = len(fusion.FEATURES)
    hidden = (rng.normal(size=(8, f)).astype(np.float32), rng.normal(size=8).astype(np.float32))
    out = (rng.normal(size=(1, 8)).astype(np.float32), np.zeros(1, np.float32))
    nets = (fusion.Fusion(np.zeros(f, np.float32), np.ones(f, np.float32), (hidden, out)),)  # user × item terms
    history = fusion.ItemHistory.of(np.concatenate(seqs), np.arange(480, dtype=np.int64) * 60_000 + NOW - 10**8, n)
    spec = fusion.Spec(ease_weight=0.0, recent_weight=0.3, half_life_ms=fusion.HALF_LIVES_MS[0], candidates=30)
    learned = fusion.Learned(nets, spec, history, rng.random((n, 3)).astype(np.float32))
    fused = replace(model, neighbours=nb, ease=None, fusion=learned)
    week, month, year = fusion.HALF_LIVES_MS
    trending = {
        w.item_ids[k]: Trending(
            0, 0, 0.0, NOW - k * 1000, float(k % 7), {week: float(k % 5), month: float(k % 7), year: float(k % 3)}
        )
        for k in range(0, n, 2)
    }
    # an impression a second ago is the user's last event; their last engagement is three days old, and the fusion's
    # "hours since the previous event" is the engagement's, as the batch's cases have it
    user = replace(
        kit.heavy_user(w, now_ms=NOW),
        recent_items=("i5", "i6"),
        engaged_items=("i5", "i6"),
        last_event_ms=NOW - 1_000,
        last_engaged_ms=NOW - 3 * 86_400_000,
    )
    feats = MemoryFeatures(users={"u1": user}, items=w.item_features(), trending=trending)
    cfg = RELAXED.model_copy(
        update={"exploration_rate": 0.0, "diversity": 0.0, "fusion_diversity": 0.0, "i2i_weight": 1.0}
    )
    return FusedWorld(w, fused, learned, nb, user, feats, cfg)


def test_a_version_s_learned_fusion_orders_for_you_and_popular_at_the_request_s_time(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """With a fusion in the version, the trending refresh reads the recent popularity at every half-life the fusion
    reads, FOR_YOU's slots follow :func:`hybridrec.fusion.rank_one` for the user at the request's time, and
    "Popular right now" starts with its order for an empty history; ``fusion`` false keeps the linear prior."""
    fw = _fused_world(loaded)
    w, fused, learned, nb, user, feats, cfg = fw.world, fw.model, fw.learned, fw.nb, fw.user, fw.feats, fw.cfg
    month = fusion.HALF_LIVES_MS[1]
    engine, _, _ = _engine(w, fused, feats, cfg=cfg)
    assert asyncio.run(engine.refresh_trending())
    trend = engine.trend
    assert len(trend.recent_all) == 3 and trend.item_last_ms is not None
    assert trend.recent_all[1][fused.item_pos["i4"]] == pytest.approx(np.log1p(4.0 * 2 ** (-4000 / month)), rel=1e-4)
    assert trend.item_last_ms[fused.item_pos["i4"]] == NOW - 4000 and trend.item_last_ms[fused.item_pos["i5"]] == 0
    want, _, _ = fusion.rank_one(
        learned, nb, None, [5, 6], trend.recent_all, trend.item_last_ms, NOW, user.last_engaged_ms
    )
    seen_now = seen_set(user)
    keep = [p for p in want.tolist() if not np.isin(fused.item_hash[p], seen_now)]
    page = asyncio.run(engine.homepage(_q(items_per_row=10)))
    row = next(r for r in page.rows if r.kind is RowKind.FOR_YOU)
    assert [s.item_id for s in row.items] == [fused.item_ids[p] for p in keep[:10]]
    cold, _, _ = fusion.rank_one(learned, nb, None, [], trend.recent_all, trend.item_last_ms, trend.stream_ms, -1)
    assert trend.cold_order is not None and trend.cold_order[: len(cold)].tolist() == cold.tolist()
    # The genre re-rank weighs the fusion's confidence: the row takes the fused pool's genres further apart.
    diverse, _, _ = _engine(w, fused, feats, cfg=cfg.model_copy(update={"fusion_diversity": 0.9}))
    assert asyncio.run(diverse.refresh_trending())
    spread = next(r for r in asyncio.run(diverse.homepage(_q(items_per_row=10))).rows if r.kind is RowKind.FOR_YOU)
    got = [s.item_id for s in spread.items]
    assert got != [s.item_id for s in row.items] and set(got) <= {fused.item_ids[p] for p in keep}
    by_id = dict(zip(fused.item_ids, fused.item_genres, strict=True))
    assert genre_entropy(got, by_id, 10) > genre_entropy([s.item_id for s in row.items], by_id, 10)
    # By default the weight is the one the version's batch chose (fusion.npz), not serving's own.
    chose = replace(fused, fusion=replace(learned, diversity=0.9))
    versioned, _, _ = _engine(w, chose, feats, cfg=cfg.model_copy(update={"fusion_diversity": "version"}))
    assert asyncio.run(versioned.refresh_trending())
    again = next(r for r in asyncio.run(versioned.homepage(_q(items_per_row=10))).rows if r.kind is RowKind.FOR_YOU)
    assert [s.item_id for s in again.items] == got
    # … and so are the first slots that keep the fused order: the re-ranked row with the plain row's first two.
    headed = replace(fused, fusion=replace(learned, diversity=0.9, diversity_head=2))
    held, _, _ = _engine(w, headed, feats, cfg=cfg.model_copy(update={"fusion_diversity": "version"}))
    assert asyncio.run(held.refresh_trending())
    front = next(r for r in asyncio.run(held.homepage(_q(items_per_row=10))).rows if r.kind is RowKind.FOR_YOU)
    ids = [s.item_id for s in front.items]
    assert ids[:2] == [s.item_id for s in row.items][:2] and ids != [s.item_id for s in row.items]
    linear, _, _ = _engine(w, fused, feats, cfg=cfg.model_copy(update={"fusion": False}))
    assert asyncio.run(linear.refresh_trending()) and linear.trend.cold_order is None
    other = next(r for r in asyncio.run(linear.homepage(_q(items_per_row=10))).rows if r.kind is RowKind.FOR_YOU)
    assert [s.item_id for s in other.items] != [s.item_id for s in row.items]


def _for_you(engine: Engine) -> list[str]:
    """GetRow(FOR_YOU) of u1: a page without a popular row."""
    page = asyncio.run(engine.homepage(_q(only=RowKind.FOR_YOU, n_rows=1, items_per_row=10)))
    assert [r.kind for r in page.rows] == [RowKind.FOR_YOU]
    return [s.item_id for s in page.rows[0].items]


def test_the_fused_row_s_weight_moves_by_each_served_row_s_entropy_gap_to_the_served_popular_rows(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """The entropy guardrail (``serving.logic.guardrail``): the fused FOR_YOU starts at the version's weight and
    keeps it until a popular row is served to a user with a history; after that each served fused row moves the
    weight by ``fusion_guardrail_step`` per bit its genre entropy missed the popular rows' moving average, and the
    next request re-ranks at the moved weight. A cold user's popular row does not count; a weight the config or the
    request's A/B variant fixes never moves; a new version starts again at its own."""
    fw = _fused_world(loaded)
    step, start = 0.3, 0.5
    cfg = fw.cfg.model_copy(update={"fusion_diversity": "version", "fusion_guardrail_step": step})
    model = replace(fw.model, fusion=replace(fw.learned, diversity=start))
    engine, _, _ = _engine(fw.world, model, fw.feats, cfg=cfg)
    assert asyncio.run(engine.refresh_trending())
    sample = engine.metrics.registry.get_sample_value
    weight = lambda e: e._guard.weight if e._guard is not None else None  # noqa: E731
    by_id = dict(zip(model.item_ids, model.item_genres, strict=True))
    gaps = lambda: sample("hybridrec_serving_for_you_entropy_gap_bits_count") or 0.0  # noqa: E731  (per process)
    gaps_before = gaps()  # earlier tests' engines in this process served fused rows too
    first = _for_you(engine)
    assert _for_you(engine) == first and weight(engine) == start  # no popular row served yet: nothing to compare
    cold = asyncio.run(engine.homepage(_q(user="nobody", only=RowKind.POPULAR, n_rows=1, items_per_row=10))).rows[0]
    assert cold.kind is RowKind.POPULAR and cold.items
    assert _for_you(engine) == first and weight(engine) == start  # a cold user's popular row does not count
    popular = asyncio.run(engine.homepage(_q(only=RowKind.POPULAR, n_rows=1, items_per_row=10))).rows[0]
    popular_bits = genre_entropy([s.item_id for s in popular.items], by_id, 10)
    assert sample("hybridrec_serving_popular_entropy_bits") == pytest.approx(popular_bits, abs=1e-6)
    assert _for_you(engine) == first
    moved = start + step * (popular_bits + cfg.fusion_guardrail_margin_bits - genre_entropy(first, by_id, 10))
    assert abs(moved - start) > 0.01 and 0.0 < moved < 1.0 and weight(engine) == pytest.approx(moved, abs=1e-6)
    # … and Prometheus shows it (read before another engine of this test sets the process's metrics: imported after
    # feast, prometheus_client keeps one value per metric name and process)
    assert sample("hybridrec_serving_for_you_diversity_weight") == pytest.approx(moved, abs=1e-6)
    assert gaps() == gaps_before + 1  # one fused row served since the popular one
    fixed, _, _ = _engine(fw.world, model, fw.feats, cfg=cfg.model_copy(update={"fusion_diversity": moved}))
    assert asyncio.run(fixed.refresh_trending())
    assert _for_you(engine) == _for_you(fixed) != first and weight(fixed) is None  # a fixed weight has no guardrail
    # an A/B arm that sets its own diversity is served at it and does not move the version's weight
    armed = cfg.model_copy(update={"variants": (Variant(name="wide", diversity=0.9),)})
    arm, _, _ = _engine(fw.world, model, fw.feats, cfg=armed)
    assert asyncio.run(arm.refresh_trending())
    asyncio.run(arm.homepage(_q(only=RowKind.POPULAR, n_rows=1, items_per_row=10)))
    at_arm, _, _ = _engine(fw.world, model, fw.feats, cfg=cfg.model_copy(update={"fusion_diversity": 0.9}))
    assert asyncio.run(at_arm.refresh_trending())
    assert _for_you(arm) == _for_you(at_arm) != _for_you(fixed) and weight(arm) is None
    # a new version starts again at its own weight: its first row is a fresh server's
    nxt = replace(model, version=model.version + "-next", fusion=replace(fw.learned, diversity=0.1))
    engine.models.current = nxt
    assert asyncio.run(engine.refresh_trending())
    fresh, _, _ = _engine(fw.world, nxt, fw.feats, cfg=cfg)
    assert asyncio.run(fresh.refresh_trending())
    assert _for_you(engine) == _for_you(fresh) and weight(engine) == pytest.approx(0.1)


def test_the_guardrail_counts_a_served_item_the_model_does_not_know_by_its_catalog_genres(
    loaded: tuple[kit.World, LoadedModel],
) -> None:
    """The guardrail's row entropy reads each served item's genres as the re-rank does
    (:func:`serving.logic.assembly.genres_of`: the model's matrix, the catalog for an item added since the version),
    from the positions the row carries or, without them, from its ids."""
    from serving.domain import Row, Slot
    from serving.logic.guardrail import EntropyGuardrail

    w, model = loaded
    known = w.item_ids[:3]
    other = next(g for g in ("Horror", "Documentary", "Western") if g not in w.item_genres[known[0]])
    catalog = Catalog({**{i: f"Title {i}" for i in w.item_ids}, "new": "New"}, {**dict(w.item_genres), "new": (other,)})
    engine = Engine(RELAXED, Holder(model), MemoryFeatures(), MemorySink(), Metrics(), catalog, Trend([], []))
    ids = ["new", *known]
    by_id = {i: genres_of(model, catalog.genres, [i])[0] for i in ids}
    want = genre_entropy(ids, by_id, len(ids))
    assert by_id["new"].sum() == 1.0 and want != pytest.approx(genre_entropy(known, by_id, len(known)))
    positions = np.array([-1, *(model.item_pos[i] for i in known)], np.int64)
    for carried in (positions, None):
        row = Row("popular", RowKind.POPULAR, "Popular", "popular", [Slot(i, 0.5, "popular") for i in ids], carried)
        guard = EntropyGuardrail(model.version, 0.5, 0.1)
        engine._keep_guardrail(guard, model, [], [row], np.array([1], np.uint64))
        assert guard.popular_bits == pytest.approx(want, abs=1e-6)
