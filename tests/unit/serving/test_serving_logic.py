from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from hybridrec import diversity, seen
from hybridrec.contract import GENRES
from serving.config import Variant
from serving.domain import RowKind
from serving.logic import ab, exploration, filters
from serving.logic.candidates import Cands, blend_query, genre_cands, list_cands, top_genres
from serving.logic.guardrail import EntropyGuardrail, entropy_of
from serving.logic.rows import RowPlan, plan_rows
from serving.trending import Trend, popular_order


def test_ab_assignment_is_deterministic_and_follows_weights() -> None:
    arms = (Variant(name="control", weight=3), Variant(name="treatment", weight=1))
    first = [ab.assign(f"user{k}", arms, "salt").name for k in range(4000)]
    assert first == [ab.assign(f"user{k}", arms, "salt").name for k in range(4000)]
    share = Counter(first)["treatment"] / len(first)
    assert 0.2 < share < 0.3
    resalted = [ab.assign(f"user{k}", arms, "other").name for k in range(4000)]
    assert resalted != first


def test_filters_drop_seen_hidden_and_duplicates() -> None:
    items = ["a", "b", "a", "c", "d", "e"]
    assert filters.keep(items, {"b"}, {"d"}) == [0, 3, 5]


def test_diversity_zero_weight_is_score_order_and_full_weight_spreads_genres() -> None:
    genres = np.zeros((6, 4))
    genres[:4, 0] = 1  # the four best items share one genre
    genres[4, 1] = 1
    genres[5, 2] = 1
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert diversity.rerank(scores, genres, 3, 0.0) == [0, 1, 2]
    picked = diversity.rerank(scores, genres, 3, 0.8)
    assert picked[0] == 0 and set(picked) == {0, 4, 5}
    assert diversity.entropy(genres[picked].sum(0)) > diversity.entropy(genres[[0, 1, 2]].sum(0))


def test_exploration_share_and_propensities() -> None:
    rng = random.Random(1)
    explored = total = 0
    for _ in range(2000):
        placed = exploration.explore(list(range(10)), list(range(40)), 0.07, rng)
        assert len(set(placed.index)) == 10 == len(placed.explored) == len(placed.propensity)
        for was_explored, propensity in zip(placed.explored, placed.propensity, strict=True):
            total += 1
            if was_explored:
                explored += 1
                assert 0.07 / 30 <= propensity <= 0.07 / 21
            else:
                assert propensity == pytest.approx(0.93)
    assert 0.05 < explored / total < 0.09
    assert not any(exploration.explore([0, 1], [0, 1], 0.5, rng).explored)


def test_exploration_from_a_first_slot_keeps_the_row_s_share() -> None:
    """Slots before ``first_slot`` always show the ranked top (propensity 1); the later ones explore at
    ``rate · n / (n − first_slot)``, so the row's share of explored slots stays ``rate``, and their propensities
    say the later rate. A row no longer than ``first_slot`` never explores."""
    rng = random.Random(2)
    counts = [0] * 20
    rows = 4000
    for _ in range(rows):
        placed = exploration.explore(list(range(20)), list(range(100)), 0.07, rng, first_slot=3)
        assert placed.index[:3] == [0, 1, 2] and placed.propensity[:3] == [1.0, 1.0, 1.0]
        assert len(set(placed.index)) == 20
        later = 0.07 * 20 / 17
        for k, (was, propensity) in enumerate(zip(placed.explored, placed.propensity, strict=True)):
            counts[k] += was
            if k >= 3 and not was:
                assert propensity == pytest.approx(1 - later)
            if was:
                assert later / 80 <= propensity <= later / 64
    assert counts[:3] == [0, 0, 0]
    assert 0.06 < sum(counts) / (20 * rows) < 0.08
    short = exploration.explore([0, 1, 2], list(range(10)), 0.5, rng, first_slot=3)
    assert short.index == [0, 1, 2] and short.propensity == [1.0, 1.0, 1.0]


def test_blend_query_mixes_unit_vectors() -> None:
    u, s = np.array([1.0, 0.0]), np.array([0.0, 10.0])
    q = blend_query(u, s, 0.5)
    assert q is not None and np.allclose(q, [2**-0.5, 2**-0.5], atol=1e-6)
    assert np.allclose(blend_query(u, None, 0.5), [1, 0])
    assert blend_query(None, np.zeros(2), 0.5) is None
    assert top_genres(np.array([0, 0.2, 0.8]), None, n=2) == [2, 1]


def test_plans_respect_personalisation_and_history() -> None:
    kw = dict(popular_genres=[3, 4, 5], genre_names=GENRES, title_of=lambda i: f"T-{i}", n_rows=5)
    personal = plan_rows(personalized=True, has_profile=True, recent_items=["x", "y"], user_genres=[7], **kw)
    kinds = [p.kind for p in personal]
    assert kinds[:4] == [RowKind.FOR_YOU, RowKind.BECAUSE_YOU_WATCHED, RowKind.TRENDING, RowKind.TOP_GENRE]
    assert personal[1].title == "Because you watched T-x" and personal[3].title == f"{GENRES[7]} for you"
    assert len({p.row_id for p in personal}) == len(personal)
    for plans in (
        plan_rows(personalized=False, has_profile=True, recent_items=["x"], user_genres=[7], **kw),
        plan_rows(personalized=True, has_profile=False, recent_items=[], user_genres=[], **kw),
    ):
        assert not any(p.kind.profiling and p.kind is not RowKind.TOP_GENRE for p in plans)
        assert all(p.title.startswith("Popular in") for p in plans if p.kind is RowKind.TOP_GENRE)
    only = plan_rows(
        personalized=True, has_profile=True, recent_items=["x"], user_genres=[], only=RowKind.TRENDING, **kw
    )
    assert [p.kind for p in only] == [RowKind.TRENDING]
    # A recent item the model has no vector for (released after training) seeds no row titled after it.
    known = plan_rows(
        personalized=True,
        has_profile=True,
        recent_items=["new", "x", "y"],
        user_genres=[],
        **kw,
        can_seed=lambda i: i != "new",
    )
    assert [p.seed_item for p in known if p.kind is RowKind.BECAUSE_YOU_WATCHED] == ["x", "y"]


def test_no_trending_counts_plan_no_trending_row() -> None:
    """Without the speed layer's counts there is no "Trending now": neither a popularity list under that title
    nor a plan slot that a spare would have to fill; the rows below move up."""
    kw = dict(popular_genres=[3, 4, 5], genre_names=GENRES, title_of=lambda i: f"T-{i}", n_rows=5)
    plans = plan_rows(
        personalized=True, has_profile=True, recent_items=["x", "y"], user_genres=[7], trending=False, **kw
    )
    assert [p.kind for p in plans][:4] == [
        RowKind.FOR_YOU,
        RowKind.BECAUSE_YOU_WATCHED,
        RowKind.TOP_GENRE,
        RowKind.POPULAR,
    ]
    assert len(plans) == 7 and all(p.title != "Trending now" for p in plans)
    assert (
        plan_rows(
            personalized=False,
            has_profile=False,
            recent_items=[],
            user_genres=[],
            only=RowKind.TRENDING,
            trending=False,
            **kw,
        )
        == []
    )


def test_trending_row_takes_only_trending_counts() -> None:
    """A planned "Trending now" is filled from the counts only; "Popular right now" from popularity, so the
    two never carry the same list (the page's de-duplication used to empty the second one)."""
    model = SimpleNamespace(
        popular=["p1", "p2", "p3"],
        popular_pos=np.array([0, 1, 2]),
        item_hash=seen.hashes(["p1", "p2", "p3"]),
        version="v",
    )
    trending, popular = (
        Cands(RowPlan(RowKind.TRENDING, "trending", "Trending now", ""), [], []),
        Cands(RowPlan(RowKind.POPULAR, "popular", "Popular right now", ""), [], []),
    )
    for c in (trending, popular):
        list_cands(c, model, Trend(), 10)  # type: ignore[arg-type]
    assert trending.items == [] and popular.items == ["p1", "p2", "p3"]
    list_cands(trending, model, Trend(["t1", "t2"], [5, 3]), 10)  # type: ignore[arg-type]
    assert trending.items == ["t1", "t2"] and list(trending.base) == [5.0, 3.0]


def test_popular_row_of_a_model_is_the_recent_popularity_once_the_refresh_has_it() -> None:
    """ "Popular right now" orders the model's items by the speed layer's recent popularity (ties by position,
    items nobody engaged with left out) when the trending refresh read it for the loaded version; before that,
    or for another version's positions, the batch's counts."""
    ids = ["p0", "p1", "p2", "p3"]
    model = SimpleNamespace(
        popular=ids, popular_pos=np.arange(4), item_ids=ids, item_hash=seen.hashes(ids), version="v"
    )
    recent = np.array([0.5, 0.0, 2.0, 0.5], np.float32)
    assert popular_order(recent).tolist() == [2, 0, 3]
    fresh = Trend(version="v", recent=recent, recent_order=popular_order(recent))

    def popular(trend: Trend) -> Cands:
        c = Cands(RowPlan(RowKind.POPULAR, "popular", "Popular right now", ""), [], [])
        list_cands(c, model, trend, 2)  # type: ignore[arg-type]
        return c

    c = popular(fresh)
    assert c.items == ["p2", "p0"] and c.pos is not None and c.pos.tolist() == [2, 0] and list(c.base) == [1.0, 0.5]
    older = Trend(version="u", recent=recent, recent_order=popular_order(recent))
    assert popular(older).items == popular(Trend()).items == ["p0", "p1"]


def test_list_rows_skip_what_the_user_has_seen_before_taking_their_n() -> None:
    """A heavy user who has seen the head of "Popular right now" or of a genre's list still gets ``n``
    candidates: the lists skip seen items before they are cut (the row used to keep the few left of its first
    ``n``, down to an empty row), in list order; an item the model does not know (position -1) is kept."""
    ids = [f"i{k}" for k in range(8)]
    model = SimpleNamespace(
        popular=["x", *ids[:7]],
        popular_pos=np.array([-1, *range(7)]),
        item_ids=ids,
        item_hash=seen.hashes(ids),
        version="v",
        genre_items=[np.array([7, 0, 1, 2, 3])],
        genre_ids=[["i7", "i0", "i1", "i2", "i3"]],
    )
    watched = np.sort(seen.hashes(["i0", "i1", "i2", "i7"]))
    popular = Cands(RowPlan(RowKind.POPULAR, "popular", "Popular right now", ""), [], [])
    list_cands(popular, model, Trend(), 3, watched)  # type: ignore[arg-type]
    assert popular.items == ["x", "i3", "i4"] and popular.pos is not None and popular.pos.tolist() == [-1, 3, 4]
    assert list(popular.base) == [1.0, 0.5, 1 / 3]
    recent = np.array([0, 0, 0, 0, 0, 0.5, 2.0, 1.0], np.float32)  # i6, i7, i5 recently popular
    fresh = Trend(version="v", recent=recent, recent_order=popular_order(recent))
    list_cands(popular, model, fresh, 3, watched)  # type: ignore[arg-type]
    assert popular.items == ["i6", "i5"]  # the recently popular ones, i7 seen
    genre = Cands(RowPlan(RowKind.TOP_GENRE, "genre:0", "Top Action", "", genre=0), [], [])
    genre_cands(genre, model, 0, 2, watched)  # type: ignore[arg-type]
    assert genre.items == ["i3"] and genre.pos is not None and genre.pos.tolist() == [3]
    genre_cands(genre, model, 0, 2)  # type: ignore[arg-type]
    assert genre.items == ["i7", "i0"]


def test_first_unseen_takes_the_first_n_unseen_in_order() -> None:
    ids = [f"i{k}" for k in range(10)]
    hashes = seen.hashes(ids)
    watched = np.sort(seen.hashes(["i0", "i2", "i3"]))
    assert filters.first_unseen(np.arange(10), hashes, watched, 4).tolist() == [1, 4, 5, 6]
    assert filters.first_unseen(np.array([0, -1, 2, 5]), hashes, watched, 9).tolist() == [1, 3]
    assert filters.first_unseen(np.arange(10), hashes, seen.EMPTY, 3).tolist() == [0, 1, 2]
    assert filters.first_unseen(np.arange(3), hashes, watched, 0).tolist() == []


def test_rerank_gain_is_the_exact_entropy_gain() -> None:
    """The incremental entropy in rerank equals :func:`diversity.entropy` of the picked set (weight 1 = pure
    greedy entropy maximisation, ties to the lower index)."""
    rng = np.random.default_rng(0)
    g = rng.random((30, 6)) * (rng.random((30, 6)) > 0.5)
    picks = diversity.rerank(np.zeros(30), g, 8, 1.0)
    mass = np.zeros(6)
    for p in picks:
        gains = [diversity.entropy(mass + g[i]) if i not in picks[: picks.index(p)] else -1 for i in range(30)]
        assert np.isclose(diversity.entropy(mass + g[p]), max(gains))
        mass += g[p]


def test_rerank_of_float32_genre_vectors_is_the_plain_entropy_greedy() -> None:
    """Genre vectors as serving holds them (float32, 1/k per genre: three-genre items do not sum to exactly 1)
    are re-ranked as a plain greedy over :func:`diversity.entropy` would: score share plus entropy gain."""
    rng = np.random.default_rng(11)
    n, n_genres, weight = 40, 8, 0.4
    g = np.zeros((n, n_genres), np.float32)
    for i in range(n):
        chosen = rng.choice(n_genres, size=rng.integers(1, 4), replace=False)
        g[i, chosen] = np.float32(1.0) / np.float32(len(chosen))
    assert len(set(g.astype(np.float64).sum(1).tolist())) > 1, "the float32 sums differ (else nothing is tested)"
    scores = rng.normal(size=n)
    norm = (scores - scores.min()) / (scores.max() - scores.min())
    mass, expected = np.zeros(n_genres), []
    for _ in range(10):
        value = [
            -np.inf
            if i in expected
            else (1 - weight) * norm[i]
            + weight / np.log(n_genres) * (diversity.entropy(mass + g[i]) - diversity.entropy(mass))
            for i in range(n)
        ]
        expected.append(int(np.argmax(value)))
        mass = mass + g[expected[-1]]
    assert diversity.rerank(scores, g, 10, weight) == expected


def test_rank_fusion_weighs_the_two_orders_and_keeps_unscored_items_last() -> None:
    from serving.logic.candidates import rank_fusion

    scores = np.array([0.9, 0.5, 0.1, -1.0])  # ranker: a, b, c; d is not in the model
    prior = np.array([0.0, 0.2, 3.0, 0.0])  # item-to-item: c, b
    ranker_only = rank_fusion(scores, prior, 0.0)
    assert ranker_only.argsort()[::-1].tolist()[:3] == [0, 1, 2] and ranker_only[3] == -1.0
    fused = rank_fusion(scores, prior, 0.7, k=1)
    assert fused == pytest.approx([0.3 / 2, 0.3 / 3 + 0.7 / 3, 0.3 / 4 + 0.7 / 2, -1.0])
    assert fused.argsort()[::-1].tolist()[:3] == [2, 1, 0]


def test_fuse_ranks_by_reciprocal_rank_across_lists() -> None:
    from serving.logic.candidates import fuse

    items, scores = fuse(["a", "b", "c"], ["c", "d"])
    assert items[0] == "c" and set(items) == {"a", "b", "c", "d"}  # in both lists
    assert items.index("a") < items.index("d") and scores == sorted(scores, reverse=True)
    assert fuse([], ["x"]) == (["x"], [1 / 61])


def test_fuse_of_positions_is_fuse_of_ids_exactly() -> None:
    """The array fusion serving uses for FOR_YOU: the same items, order and float scores as the dict one,
    ties (many: equal ranks in different lists) included."""
    from serving.logic.candidates import fuse, fuse_positions

    rng = random.Random(7)
    for case in range(300):
        lists = [rng.sample(range(40), rng.randint(0, 25)) for _ in range(3)]
        weights = None if case % 3 == 0 else (0.2, 0.2, 0.6) if case % 3 == 1 else (0.5, 0.5, 0.0)
        pos, scores = fuse_positions(*(np.array(x, dtype=np.int64) for x in lists), weights=weights)
        items, expected = fuse(*([f"i{p}" for p in x] for x in lists), weights=weights)
        assert [f"i{p}" for p in pos.tolist()] == items
        assert scores.tolist() == expected  # bit for bit: the same additions in the same order


def test_lookup_by_position_is_a_dict_lookup() -> None:
    from serving.logic.candidates import lookup

    rng = np.random.default_rng(3)
    for _ in range(100):
        keys = rng.permutation(50)[: rng.integers(0, 20)]
        values = rng.random(len(keys)).astype(np.float32)
        at = rng.integers(-1, 60, size=rng.integers(0, 30))
        by_key = dict(zip(keys.tolist(), values.tolist(), strict=True))
        assert lookup(keys, values, at).tolist() == [by_key.get(x, 0.0) for x in at.tolist()]


def test_joint_rerank_equals_per_row_and_dedupes_across_rows() -> None:
    rng = np.random.default_rng(3)
    genres = np.eye(6)[rng.integers(0, 6, size=(2, 30))]
    scores = [rng.normal(size=30), rng.normal(size=30)]
    joint = diversity.rerank_rows(scores, list(genres), 10, 0.5)
    assert joint == [diversity.rerank(scores[r], genres[r], 10, 0.5) for r in range(2)]
    keys = [[f"i{k}" for k in range(30)], [f"i{k}" for k in range(15, 45)]]  # rows share i15..i29
    same = [scores[0], np.concatenate([scores[0][15:], rng.normal(size=15)])]
    both = diversity.rerank_rows(same, [genres[0], np.concatenate([genres[0][15:], genres[1][:15]])], 10, 0.5, keys)
    picked = [[keys[r][k] for k in both[r]] for r in range(2)]
    assert len(both[0]) == len(both[1]) == 10 and not set(picked[0]) & set(picked[1])
    solo = diversity.rerank(same[0], genres[0], 10, 0.5)
    assert both[0][0] == solo[0], "at the first slot the first row picks as if alone"
    assert set(picked[0]) | set(picked[1]) >= {keys[0][k] for k in solo[:3]}, "its best stay on the page"


def test_rerank_of_the_first_slots_only_then_score_order() -> None:
    """``slots``: the greedy entropy picks of the first screen are the full re-rank's; the rest is score order,
    still deduplicated across rows (an earlier row wins)."""
    rng = np.random.default_rng(5)
    genres = np.eye(6)[rng.integers(0, 6, size=(3, 40))]
    scores = [rng.normal(size=40) for _ in range(3)]
    full = diversity.rerank_rows(scores, list(genres), 20, 0.6)
    part = diversity.rerank_rows(scores, list(genres), 20, 0.6, slots=6)
    assert diversity.rerank_rows(scores, list(genres), 20, 0.6, slots=20) == full
    for r in range(3):
        assert part[r][:6] == full[r][:6] and len(part[r]) == 20 == len(set(part[r]))
        rest = [k for k in np.argsort(-scores[r], kind="stable").tolist() if k not in part[r][:6]]
        assert part[r][6:] == rest[:14], "after the greedy slots: best score first"
    assert part != full, "the later slots did change (else the test shows nothing)"
    # Shared ids: score-order slots keep the cross-row rule of the greedy ones.
    keys = [[f"i{k}" for k in range(40)]] * 3
    shared = diversity.rerank_rows([scores[0]] * 3, [genres[0]] * 3, 10, 0.6, keys, slots=4)
    ids = [keys[0][k] for row in shared for k in row]
    assert len(ids) == len(set(ids)) == 30
    assert shared[0][0] == diversity.rerank(scores[0], genres[0], 1, 0.6)[0], "the first row's first pick is its own"
    # Weight 0 with a shared pool: slot by slot in row order, each row takes the best item left.
    plain = diversity.rerank_rows([np.arange(6.0), np.arange(6.0)], [np.eye(6)] * 2, 3, 0.0, [list("abcdef")] * 2)
    assert plain == [[5, 3, 1], [4, 2, 0]]


def test_a_head_keeps_the_first_slots_in_score_order_and_its_genres_count() -> None:
    """``head``: the first ``head`` slots take score order even at full weight; the greedy slots after them value
    entropy with those slots' genres already in the row (so they do not repeat the head's genres first)."""
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    genres = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    assert diversity.rerank_rows([scores], [genres], 6, 1.0, slots=6, head=2)[0][:2] == [0, 1]
    picks = diversity.rerank_rows([scores], [genres], 4, 0.9, slots=4, head=1)[0]
    assert picks[0] == 0 and set(picks[1:3]) == {2, 4}, "after the head's genre 0, the other two genres first"
    assert diversity.rerank_rows([scores], [genres], 4, 0.9, slots=4, head=0)[0][0] == 0
    rng = np.random.default_rng(3)
    many = [rng.normal(size=30) for _ in range(2)]
    g = list(np.eye(5)[rng.integers(0, 5, size=(2, 30))])
    headed = diversity.rerank_rows(many, g, 20, 0.7, slots=20, head=[4, 0])
    assert headed[0][:4] == np.argsort(-many[0], kind="stable")[:4].tolist()
    assert headed[1] == diversity.rerank_rows([many[1]], [g[1]], 20, 0.7, slots=20)[0], "per row"


def test_slots_after_the_greedy_ones_follow_the_score_even_at_full_weight() -> None:
    """At weight 1 the greedy slots maximise genre entropy alone; the slots after them are still score order
    (not candidate order: the score's share of the value is 0 there, the score itself is not)."""
    scores = np.array([0.0, 1.0, 5.0, 3.0, 4.0, 2.0])
    genres = np.eye(6)
    picks = diversity.rerank_rows([scores], [genres], 6, 1.0, slots=1)[0]
    assert picks[0] == 0, "one greedy slot at weight 1: every item adds the same entropy, the lowest index wins"
    assert picks[1:] == [2, 4, 3, 5, 1]


def test_weight_and_greedy_slots_per_row_re_rank_each_row_as_if_alone() -> None:
    """Per-row ``weight`` and ``slots`` (the fused FOR_YOU beside a BECAUSE row): without shared ids each row
    gets exactly the re-rank it would get alone at its own weight and slots."""
    rng = np.random.default_rng(11)
    genres = list(np.eye(6)[rng.integers(0, 6, size=(3, 40))])
    scores = [rng.normal(size=40) for _ in range(3)]
    weights, slots = [0.7, 0.3, 0.0], [20, 6, 20]
    joint = diversity.rerank_rows(scores, genres, 20, weights, slots=slots)
    alone = [diversity.rerank_rows([scores[r]], [genres[r]], 20, weights[r], slots=slots[r])[0] for r in range(3)]
    assert joint == alone
    assert joint[2] == np.argsort(-scores[2], kind="stable")[:20].tolist(), "weight 0: score order"
    assert joint[0] != diversity.rerank_rows([scores[0]], [genres[0]], 20, 0.3, slots=6)[0]


def test_the_fused_row_re_ranks_by_the_fusion_s_confidence_over_every_slot() -> None:
    """A FOR_YOU row the learned fusion ordered trades its confidence, not its rank score, against genre entropy,
    at ``fusion_diversity`` over the whole row: an item the fusion is sure of keeps slot 1 against a new genre,
    items it is indifferent about yield to new genres. Other rows keep ``diversity`` and ``diversity_slots``."""
    from serving.logic.assembly import Policy, assemble

    n = 8
    ids = [f"m{k}" for k in range(n)]
    genres = np.zeros((n, len(GENRES)), np.float32)
    genres[:6, 0] = 1.0  # six items of one genre, then two of two others
    genres[6, 1] = genres[7, 2] = 1.0
    model = SimpleNamespace(
        item_ids=ids, item_pos={i: k for k, i in enumerate(ids)}, item_hash=seen.hashes(ids), item_genres=genres
    )
    plan = RowPlan(RowKind.FOR_YOU, "r0", "For you", "")

    def page(confidence: np.ndarray | None, head: int = 0) -> list[str]:
        rank = 1.0 / (61.0 + np.arange(n))  # what rank_fusion gives the fused order
        c = Cands(plan, list(ids), rank.tolist(), rank.copy(), np.arange(n, dtype=np.int64), confidence=confidence)
        policy = Policy(4, 0.0, 0.0, (RowKind.FOR_YOU.value,), 1, 2, 1, fusion_diversity=0.5, fusion_head=head)
        rows = assemble([c], seen.EMPTY, 1, policy, model, {}, random.Random(0))  # type: ignore[arg-type]
        return [s.item_id for s in rows[0].items]

    assert page(None) == ids[:4], "no fusion: diversity 0 leaves the row in score order"
    sure = np.array([0.9, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01])
    got = page(sure)
    assert got[0] == "m0", "the item the fusion is sure of keeps its place"
    assert {"m6", "m7"} <= set(got), "where it is indifferent, the new genres come in"
    flat = page(np.full(n, 1.0 / n))
    assert {"m6", "m7"} <= set(flat[:3])
    headed = page(np.full(n, 1.0 / n), head=2)
    assert headed[:2] == ["m0", "m1"] and {"m6", "m7"} <= set(headed), "the version's head keeps the fused order"


def test_the_fused_row_s_weight_is_the_arm_s_then_the_configured_then_the_version_s_then_diversity() -> None:
    from serving.config import ServingConfig
    from serving.logic.assembly import Policy

    cfg, control = ServingConfig(), Variant(name="control")
    assert cfg.fusion_diversity == "version"
    assert Policy.of(cfg, control, 20, 0.4).fusion_diversity == 0.4
    assert Policy.of(cfg, control, 20, 0.4, 3).fusion_head == 3
    assert Policy.of(cfg, control, 20, None).fusion_diversity == cfg.diversity, "a version that chose none"
    fixed = cfg.model_copy(update={"fusion_diversity": 0.2})
    assert Policy.of(fixed, control, 20, 0.4).fusion_diversity == 0.2
    arm = Variant(name="b", diversity=0.0)
    assert Policy.of(fixed, arm, 20, 0.4).fusion_diversity == 0.0 == Policy.of(fixed, arm, 20, 0.4).diversity


def test_a_row_whose_items_earlier_rows_took_comes_up_short_in_greedy_and_score_order_slots() -> None:
    """The cross-row rule is the same in the greedy slots and the score-order ones: slot by slot in row order, an
    earlier row wins the item both want, the later row takes its next best, and a row left with nothing stops."""
    scores = [np.array([3.0, 2.0, 1.0, 0.0])] * 2 + [np.array([1.0, 0.0])]
    genres = [np.ones((4, 1))] * 2 + [np.ones((2, 1))]
    keys = [list("abcd"), list("abcd"), list("ab")]
    for slots in (None, 0, 1):
        assert diversity.rerank_rows(scores, genres, 2, 0.5, keys, slots=slots) == [[0, 2], [1, 3], []], slots


def test_for_you_takes_the_prior_weights_the_version_chose_else_the_configured_ones() -> None:
    from serving.logic.prior import Weights, weights
    from serving.model.bundle import prior_weights

    assert weights((0.3, 0.2), (0.45, 0.1), 0.5) == Weights(0.45, 0.1, 0.5)
    assert weights((0.3, 0.2), None, 0.0) == Weights(0.3, 0.2, 0.0)
    assert prior_weights({"prior": {"ease_weight": 0.15, "recent_popularity_weight": 0.3}}) == (0.15, 0.3)
    for manifest in ({}, {"prior": {}}, {"prior": {"ease_weight": 0.8, "recent_popularity_weight": 0.3}}):
        assert prior_weights(manifest) is None  # older versions, no targets, or not a weighting


def test_the_version_s_recent_popularity_half_life_counts_only_when_the_speed_layer_keeps_it() -> None:
    from hybridrec.fresh_features import DAY_MS, recent_popularity_values
    from serving.model.bundle import recent_half_life_ms

    assert {7 * DAY_MS, 30 * DAY_MS, 365 * DAY_MS} <= set(recent_popularity_values())
    assert recent_half_life_ms({"prior": {"recent_popularity_half_life_ms": 7 * DAY_MS}}) == 7 * DAY_MS
    assert recent_half_life_ms({"prior": {"recent_popularity_half_life_ms": 3 * DAY_MS}}) is None  # not kept
    assert recent_half_life_ms({}) is None


def test_item_fresh_values_carry_the_recent_popularity_at_every_half_life_kept() -> None:
    from serving.features.redis_direct import ITEM_FRESH_FIELDS, RECENT_POPULARITY, trending_from_values

    assert ITEM_FRESH_FIELDS[4] == "popularity_recent" and len(ITEM_FRESH_FIELDS) == 4 + len(RECENT_POPULARITY)
    recent = [2.0, 5.0, 1.0][: len(RECENT_POPULARITY)]
    t = trending_from_values([None, None, None, 7, *recent])
    assert t is not None and t.popularity_recent == 2.0 and t.last_event_ms == 7
    for (h, _), v in zip(RECENT_POPULARITY, recent, strict=True):
        assert t.recent_at(h) == v
    assert trending_from_values([None, None, None, 7, *([None] * len(RECENT_POPULARITY))]) is None


def test_trending_row_shows_items_for_you_placed_rather_than_too_few() -> None:
    """FOR_YOU's recent-popularity part can place the few trending items first; "Trending now" then shows them
    again (after its own unplaced ones), where the page-wide dedup would have left it short or empty."""
    from serving.logic.assembly import Policy, assemble
    from serving.logic.candidates import Cands

    def row(kind: RowKind, items: list[str]) -> Cands:
        plan = RowPlan(kind, kind.value, kind.value, kind.value)
        return Cands(plan, items, [float(len(items) - k) for k in range(len(items))])

    policy = Policy(3, 0.0, 0.0, (), 0, 3, 1)
    page = [
        row(RowKind.FOR_YOU, ["a", "b", "c"]),
        row(RowKind.TRENDING, ["b", "a", "x"]),
        row(RowKind.POPULAR, ["x", "a", "y"]),
    ]
    rows = assemble(page, np.zeros(0, np.uint64), 3, policy, None, {}, random.Random(0))
    got = {r.kind: [s.item_id for s in r.items] for r in rows}
    assert got[RowKind.FOR_YOU] == ["a", "b", "c"]
    assert got[RowKind.TRENDING] == ["b", "a", "x"]  # its own order; a and b already placed, x alone was left
    assert got[RowKind.POPULAR] == ["y"]  # other rows keep the page-wide dedup


def test_filters_by_model_position_keep_what_the_id_filter_keeps() -> None:
    """The compiled filter over model positions answers as :func:`filters.keep` does over the ids."""

    rng = np.random.default_rng(3)
    ids = [f"i{k}" for k in range(300)]
    hashes = seen.hashes(ids)
    for _ in range(500):
        pos = rng.integers(0, 300, rng.integers(0, 60))
        seen_ids = [ids[k] for k in rng.integers(0, 300, rng.integers(0, 40))]
        seen_set = np.unique(seen.hashes(seen_ids)) if seen_ids else seen.EMPTY
        used = np.zeros(300, dtype=bool)
        used[rng.integers(0, 300, rng.integers(0, 30))] = True
        items = [ids[p] for p in pos]
        drop = seen.contains(seen_set, hashes[pos]) if len(seen_set) and items else None
        want = filters.keep(items, {ids[p] for p in np.flatnonzero(used)}, drop=drop)
        assert filters.keep_positions(pos, hashes, seen_set, used).tolist() == want
        stored = seen.decode(seen_set.tobytes())  # read-only, as the server reads it from Redis
        assert filters.keep_positions(pos, hashes, stored, used).tolist() == want


def test_assembly_by_model_position_places_what_assembly_by_id_places() -> None:
    """Rows whose candidates carry model positions take the compiled path (filters, cross-row dedup); the same
    rows without positions take the path by id, and a page may mix both. All must build the same page, slot for
    slot."""
    from serving.logic.assembly import Policy, assemble

    n = 120
    ids = [f"m{k}" for k in range(n)]
    rng = np.random.default_rng(7)
    genres = (rng.random((n, len(GENRES))) < 0.15).astype(np.float32)
    model = SimpleNamespace(
        item_ids=ids, item_pos={i: k for k, i in enumerate(ids)}, item_hash=seen.hashes(ids), item_genres=genres
    )
    kinds = [RowKind.FOR_YOU, RowKind.BECAUSE_YOU_WATCHED, RowKind.TRENDING, RowKind.TOP_GENRE, RowKind.POPULAR]
    for case in range(60):
        page: list[list[Cands]] = [[], [], []]
        for kind in kinds:
            pos = rng.permutation(n)[: rng.integers(5, 60)]
            scores = rng.random(len(pos))
            plan = RowPlan(kind, kind.value, kind.value, kind.value)
            items = [ids[p] for p in pos]
            page[0].append(Cands(plan, items, scores.tolist(), scores.copy(), pos.astype(np.int64)))
            page[1].append(Cands(plan, list(items), scores.tolist(), scores.copy(), None))
            page[2].append(Cands(plan, list(items), scores.tolist(), scores.copy(), page[rng.integers(0, 2)][-1].pos))
        seen_set = seen.decode(np.unique(model.item_hash[rng.integers(0, n, 25)]).tobytes())  # read-only, as served
        policy = Policy(
            8, 0.1, 0.5 if case % 3 else 0.0, (RowKind.FOR_YOU.value, RowKind.BECAUSE_YOU_WATCHED.value), 4, 3, 3
        )
        pages = [assemble(p, seen_set, 5, policy, model, {}, random.Random(case)) for p in page]  # type: ignore[arg-type]
        by_pos, by_id, mixed = (
            [(r.kind, [(s.item_id, s.score, s.reason, s.explored, s.propensity) for s in r.items]) for r in rows]
            for rows in pages
        )
        assert by_pos == by_id == mixed, case
        shown = [s.item_id for r in pages[0] if r.kind is not RowKind.TRENDING for s in r.items]
        assert len(shown) == len(set(shown)) and not set(shown) & {
            ids[k] for k in range(n) if model.item_hash[k] in seen_set
        }


def test_a_row_ordered_by_its_prior_alone_is_not_scored_and_keeps_the_same_scores() -> None:
    """With the prior's weight at 1 FOR_YOU's ranker scores weigh nothing: the forward pass skips the row, and
    its fused scores equal those computed from real ranker scores; below 1 the ranker scores it."""
    from serving.logic.candidates import rank_fusion
    from serving.scoring import score_rows

    rng = np.random.default_rng(3)
    asked: list[np.ndarray] = []

    def score(user: object, pos: np.ndarray, surfaces: np.ndarray, device: str) -> np.ndarray:
        asked.append(pos.copy())
        return (pos * 0.37 % 1.0).astype(np.float64)

    model = SimpleNamespace(item_pos={}, score=score)

    def page() -> list[Cands]:
        for_you = Cands(RowPlan(RowKind.FOR_YOU, "r0", "For you", ""), [f"i{k}" for k in range(30)], [0.0] * 30)
        for_you.pos = np.array([*range(29), -1], dtype=np.int64)
        for_you.prior = np.where(rng.random(30) < 0.7, rng.random(30), 0.0)
        popular = Cands(RowPlan(RowKind.POPULAR, "r1", "Popular", ""), [f"p{k}" for k in range(10)], [0.0] * 10)
        popular.pos = np.arange(100, 110, dtype=np.int64)
        return [for_you, popular]

    for weight in (1.0, 0.7):
        asked.clear()
        cands = page()
        score_rows(model, None, cands, "cpu", lambda kind: 0, prior_weight=weight)  # type: ignore[arg-type]
        every = np.concatenate(asked)
        assert set(every.tolist()) == (set(range(100, 110)) | (set() if weight == 1.0 else set(range(29))))
        ranker = np.append(np.arange(29) * 0.37 % 1.0, -1.0)
        assert np.array_equal(cands[0].scores, rank_fusion(ranker, cands[0].prior, weight))
        assert np.array_equal(cands[1].scores, np.arange(100, 110) * 0.37 % 1.0)


def test_the_prior_s_fusion_is_blend_many_term_by_term() -> None:
    """FOR_YOU's prior scales all parts in one call: each part's share is exactly blend_many of that part alone,
    and their sum exactly blend_many of all (NaN, infinities and the user's engaged items included)."""
    from hybridrec import sequence
    from serving.logic import prior

    rng = np.random.default_rng(5)
    for case in range(200):
        n, n_parts = int(rng.integers(1, 60)), int(rng.integers(1, 5))
        parts = [rng.normal(size=n).astype(np.float32 if k % 2 else np.float64) for k in range(n_parts)]
        if case % 3 == 0:
            parts[0][rng.integers(n)] = np.nan
            parts[-1][rng.integers(n)] = -np.inf
        if case % 7 == 0:
            parts[0][:] = 0.0  # a missing part
        weights = rng.dirichlet(np.ones(n_parts)).tolist()
        engaged = rng.choice(n, size=int(rng.integers(0, n)), replace=False).tolist()
        fused = prior.fuse(parts, weights, engaged)
        for k, (p, w) in enumerate(zip(parts, weights, strict=True)):
            assert np.array_equal(fused.shares[k], sequence.blend_many((p,), (w,), engaged))
        assert np.array_equal(fused.score, sequence.blend_many(parts, weights, engaged))


def test_the_entropy_guardrail_moves_its_weight_by_the_gap_to_the_popular_rows_and_stays_in_bounds() -> None:
    """A fused row narrower than the served popular rows' moving average raises the weight by ``step`` per bit, a
    wider one lowers it, never past [low, high], and nothing moves before a popular row was seen; the weight
    settles where the fused rows' entropy averages the popular rows'."""
    g = EntropyGuardrail("v1", 0.4, 0.1, smoothing=0.5)
    assert g.saw_fused(1.0) == 0.4 and g.popular_bits is None
    g.saw_popular(3.0)
    g.saw_popular(2.0)
    assert g.popular_bits == pytest.approx(2.5)
    assert g.saw_fused(2.0) == pytest.approx(0.45) and g.saw_fused(3.0) == pytest.approx(0.4)
    assert g.saw_fused(-20.0) == 1.0 and g.saw_fused(40.0) == 0.0
    # fused rows whose entropy grows with the weight (2.6 + weight bits), popular rows of 2.8 or 3.2 bits: it settles
    # at 0.4, where the fused rows match the popular rows' mean
    g = EntropyGuardrail("v1", 0.0, 0.2, smoothing=0.01)
    for k in range(4000):
        g.saw_popular(2.8 if k % 2 else 3.2)
        g.saw_fused(2.6 + g.weight)
    assert g.weight == pytest.approx(0.4, abs=0.02)
    # with a margin it settles where the fused rows average the popular rows' mean plus the margin
    g = EntropyGuardrail("v1", 0.0, 0.2, margin=0.1, smoothing=0.01)
    for k in range(4000):
        g.saw_popular(2.8 if k % 2 else 3.2)
        g.saw_fused(2.6 + g.weight)
    assert g.weight == pytest.approx(0.5, abs=0.02)
    genres = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    assert entropy_of(genres[[0, 1]]) == pytest.approx(1.0)
    assert entropy_of(genres[[0, 2]]) == pytest.approx(0.0) and entropy_of(genres[:0]) == 0.0
