"""The learned fusion over FOR_YOU's prior candidates (hybridrec.fusion), on hand-made cases."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from hybridrec import fusion, neighbours


def test_target_ranks_count_ties_by_candidate_order_and_mark_absent_targets() -> None:
    scores = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.2, 0.2, 0.2], [1.0, 0.0, 0.0, 0.0]])
    got = fusion.target_ranks(scores, np.array([2, 3, -1]))
    assert got.tolist() == [2, 3, -1]


def test_ndcg_at_10_of_ranks() -> None:
    got = fusion.ndcg_at_10(np.array([0, 1, 10, -1]))
    assert got == pytest.approx((1.0 + 1.0 / np.log2(3)) / 4)


def test_score_is_standardised_relu_layers_then_linear() -> None:
    f = fusion.Fusion(
        mean=np.array([1.0, 0.0], np.float32),
        scale=np.array([2.0, 1.0], np.float32),
        layers=(
            (np.array([[1.0, 0.0], [0.0, -1.0]], np.float32), np.array([0.0, 0.5], np.float32)),
            (np.array([[2.0, 3.0]], np.float32), np.array([0.25], np.float32)),
        ),
    )
    x = np.array([[[3.0, 1.0], [1.0, -2.0]]], np.float32)  # standardised: (1, 1) and (0, -2)
    # hidden: relu(1, -0.5) = (1, 0); relu(0, 2.5) = (0, 2.5) → 2·1 + 0.25 and 3·2.5 + 0.25
    assert fusion.Fusion.score(f, x).tolist() == [[2.25, 7.75]]
    again = fusion.Fusion.of_arrays(f.arrays())
    assert again.score(x).tolist() == [[2.25, 7.75]]


@pytest.mark.parametrize("hidden", [0, 8])
def test_fit_learns_which_feature_marks_the_engaged_candidate(hidden: int) -> None:
    """Feature 0 is noise; feature 1 is highest on the engaged candidate, which the prior's order puts anywhere:
    the fitted scorer places it first on held-out users where the prior's order does not."""
    rng = np.random.default_rng(0)
    n, c = 300, 10
    x = rng.normal(size=(n, c, 2)).astype(np.float32)
    target = rng.integers(0, c, size=n)
    target[::10] = -1  # engaged item not among the candidates: held-out NDCG only
    x[np.arange(n), np.maximum(target, 0), 1] += 5.0 * (target >= 0)
    groups = [f"u{k % 50}" for k in range(n)]
    got = fusion.fit(x, target, groups, hidden=hidden, epochs=20, lr=0.03, batch=32, seed=1)
    assert got.dev_ndcg > 0.8 > got.dev_prior_ndcg
    assert got.curve[got.best_epoch] == got.dev_ndcg
    ranks = fusion.target_ranks(got.fusion.score(x), target)
    assert (ranks[target >= 0] == 0).mean() > 0.9


def test_features_take_the_priors_best_unengaged_items_and_describe_each() -> None:
    """Two cases over 4 items, two parts (the rest of :data:`PARTS` left out is fine for the layout's logic):
    item 0 engaged in case 0; the prior is part 0 at weight 1, so candidates follow part 0 among unengaged items."""
    inf = np.inf
    part0 = np.array([[-inf, 3.0, 1.0, 2.0], [0.0, 1.0, 4.0, 2.0]])
    part1 = np.array([[-inf, 0.0, 10.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    newest = np.array([[-inf, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    since = np.arange(8, dtype=np.float32).reshape(2, 4)
    genres = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    got = fusion.features(
        [part0, part1],
        [1.0, 0.0],
        newest,
        popularity=np.array([0.5, 1.5, 2.5, 3.5]),
        ages=lambda cand: (np.take_along_axis(since, cand, 1), np.take_along_axis(since + 100, cand, 1)),
        user=np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]], np.float32),
        genres=genres,
        taste=np.array([[2.0, 0.0], [0.0, 0.0]]),
        n=3,
    )
    assert got.items.tolist() == [[1, 3, 2], [2, 3, 1]]
    assert got.prior.tolist() == [[1.0, 0.5, 0.0], [1.0, 0.5, 0.25]]
    x = got.x[0]  # case 0, candidates 1, 3, 2; columns: part0 raw/minmax/rank, part1 raw/minmax/rank, prior, ...
    assert x[:, 0].tolist() == [3.0, 2.0, 1.0]
    assert x[:, 1].tolist() == [1.0, 0.5, 0.0]
    assert x[:, 2].tolist() == pytest.approx(np.log1p([0, 1, 2]).tolist())  # rank among the candidates
    assert x[:, 3].tolist() == [0.0, 5.0, 10.0]
    assert x[:, 5].tolist() == pytest.approx(np.log1p([2, 1, 0]).tolist())
    assert x[:, 6].tolist() == [1.0, 0.5, 0.0]  # the prior
    assert x[:, 8].tolist() == [1.0, 0.0, 0.0]  # the newest engagement's part, min-max
    assert x[:, 9].tolist() == [1.5, 3.5, 2.5]  # all-time popularity
    assert x[:, 10].tolist() == [1.0, 3.0, 2.0] and x[:, 11].tolist() == [101.0, 103.0, 102.0]
    assert x[:, 12:15].tolist() == [[1.0, 2.0, 0.0]] * 3
    assert x[:, 15].tolist() == pytest.approx([1.0, 2**-0.5, 0.0])  # genre cosine with the newest engagements
    assert got.x[1, :, 15].tolist() == [0.0, 0.0, 0.0]  # no history: no taste
    assert got.x.shape == (2, 3, 16)


def test_top_n_is_the_stable_order_of_each_rows_best() -> None:
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, size=(20, 30)).astype(np.float32)  # many ties
    s[:, ::7] = -np.inf
    want = np.argsort(-s, axis=1, kind="stable")[:, :8]
    got = fusion.top_n(s, 8)
    # ties at the cut may take any of the tied columns; everything above the cut's value is the same, in order
    assert (np.take_along_axis(s, got, 1) == np.take_along_axis(s, want, 1)).all()
    assert fusion.top_n(s, 100).tolist() == np.argsort(-s, axis=1, kind="stable").tolist()


def test_item_history_and_ages() -> None:
    h = fusion.ItemHistory.of(np.array([2, 0, -1, 2]), np.array([10, 20, 25, 30]), 4)
    assert h.count.tolist() == [1, 0, 2, 0]
    assert h.first_ms.tolist() == [20, -1, 10, -1] and h.last_ms.tolist() == [20, -1, 30, -1]
    hour = fusion.HOUR_MS
    last, first = fusion.item_ages(np.array([30 + hour]), h.first_ms, h.last_ms)
    oldest = float(np.log1p((hour + 10) / hour))
    assert last[0].tolist() == pytest.approx([oldest, oldest, float(np.log1p(1.0)), oldest])
    assert first[0, 1] == first[0, 2] == first[0].max()  # never engaged: as old as the oldest
    user = fusion.user_row(np.array([0, 3]), np.array([hour, 2 * hour]), np.array([-1, 0]))
    assert np.allclose(user, [[0.0, 0.0, 1.0], [np.log1p(3), np.log1p(2), 0.0]])


def test_half_lives_are_kept_by_the_speed_layer() -> None:
    from hybridrec import fresh_features

    assert set(fusion.HALF_LIVES_MS) <= set(fresh_features.recent_popularity_values())


def _world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, neighbours.Neighbours, fusion.Learned]:
    """Engagements of 30 users over 40 items in time order, their lists and a random two-net fusion."""
    rng = np.random.default_rng(seed)
    n_items, n = 40, 600
    items = rng.integers(0, n_items, size=n)
    users = rng.integers(0, 30, size=n)
    times = np.arange(n, dtype=np.int64) * 3_600_000
    seqs = [items[users == u] for u in range(30)]
    nb = neighbours.cooccurrence(seqs, np.bincount(items, minlength=n_items).astype(np.float64), 5, 10)
    nets = tuple(
        fusion.Fusion(
            np.zeros(len(fusion.FEATURES), np.float32),
            np.ones(len(fusion.FEATURES), np.float32),
            (
                (rng.normal(size=(4, len(fusion.FEATURES))).astype(np.float32), np.zeros(4, np.float32)),
                (rng.normal(size=(1, 4)).astype(np.float32), np.zeros(1, np.float32)),
            ),
        )
        for _ in range(2)
    )
    genres = rng.random((n_items, 3)).astype(np.float32)
    spec = fusion.Spec(ease_weight=0.3, recent_weight=0.2, half_life_ms=fusion.HALF_LIVES_MS[0], candidates=12)
    learned = fusion.Learned(nets, spec, fusion.ItemHistory.of(items, times, n_items), genres)
    return users, np.stack([items, times]), nb, learned


def test_a_served_request_has_the_features_of_the_training_case_at_its_time(tmp_path) -> None:
    """One definition: the batch's case for a target and serving's request at the target's time, from the same
    engagements before it, give the same candidates in the same fused order (and so the same features)."""
    users, (items, times), nb, m = _world()
    t = 400
    target = SimpleNamespace(
        item=int(items[t]),
        time_ms=int(times[t]),
        engaged=list(dict.fromkeys(items[:t][users[:t] == users[t]][::-1].tolist())),
        previous_ms=int(times[:t][users[:t] == users[t]][-1]),
        user=int(users[t]),
    )
    recent = [np.log1p(np.bincount(items[:t], minlength=40) * (k + 1)).astype(np.float32) for k in range(3)]
    history_then = fusion.ItemHistory.of(items[:t], times[:t], 40)  # what a version published at t knows
    c = fusion.cases(
        times, items, [target], history_then, nb, nb, iter([[r[None, :] for r in recent]]), m.genres, m.spec
    )
    pop = recent[0].astype(np.float64)  # the spec's half-life, engaged items left out: the popular row's tail
    pop[target.engaged] = -np.inf
    assert c.popular[0].tolist() == np.lexsort((np.arange(40), -pop))[:20].tolist()
    cold, _, _ = fusion.rank_one(  # serving's "Popular right now" head: an empty history at the case's time
        fusion.Learned(m.nets, m.spec, history_then, m.genres), nb, nb, [], recent, None, target.time_ms, -1
    )
    assert cold.tolist() == c.cold_items[0][np.argsort(-m.score(c.cold_x[0]), kind="stable")].tolist()
    assert c.cold_engaged[0].tolist() == np.isin(c.cold_items[0], target.engaged).tolist()
    m.save(tmp_path / "f.npz")
    again = fusion.Learned.load(tmp_path / "f.npz")
    assert again.spec == m.spec and len(again.nets) == 2 and again.diversity is None and again.temperature == 1.0
    assert again.diversity_head == 0
    chosen_one = fusion.Learned(m.nets, m.spec, m.history, m.genres, 0.4, 0.5, 3)
    chosen_one.save(tmp_path / "g.npz")
    loaded = fusion.Learned.load(tmp_path / "g.npz")
    assert (loaded.diversity, loaded.temperature, loaded.diversity_head) == (0.4, 0.5, 3)
    served = fusion.Learned(again.nets, again.spec, history_then, again.genres)
    order, _, shares = fusion.rank_one(served, nb, nb, target.engaged, recent, None, target.time_ms, target.previous_ms)
    want = np.argsort(-m.score(c.x[0]), kind="stable")
    chosen = fusion.features(
        [p[None, :] for p in fusion.case_parts(nb, nb, target.engaged, recent, m.spec, 40)[0]],
        m.spec.weights(),
        fusion.case_parts(nb, nb, target.engaged, recent, m.spec, 40)[1][None, :],
        np.log1p(history_then.count).astype(np.float32),
        lambda cand: fusion.item_ages(np.array([target.time_ms]), history_then.first_ms, history_then.last_ms, cand),
        fusion.user_row(np.array([len(target.engaged)]), np.array([target.time_ms]), np.array([target.previous_ms])),
        m.genres,
        fusion.taste_of(m.genres, target.engaged, m.spec)[None, :],
        m.spec.candidates,
    )
    assert chosen.x[0] == pytest.approx(c.x[0])  # the batch's case is the request's features at that time
    assert c.items[0].tolist() == chosen.items[0].tolist()
    assert order.tolist() == chosen.items[0][want].tolist()
    assert not set(order.tolist()) & set(target.engaged)
    assert shares.shape == (len(fusion.PARTS), 40) and shares[:, target.engaged].sum() == 0.0


def test_merged_net_scores_as_the_mean_of_the_scorers() -> None:
    _, _, _, m = _world(4)
    x = np.random.default_rng(1).normal(size=(3, 12, len(fusion.FEATURES))).astype(np.float32)
    want = np.mean([f.score(x) for f in m.nets], axis=0)
    assert m.score(x) == pytest.approx(want, rel=1e-5, abs=1e-5)
    linear = fusion.Fusion(
        np.zeros(2, np.float32), np.ones(2, np.float32), ((np.ones((1, 2), np.float32), np.zeros(1, np.float32)),)
    )
    assert fusion.merged([linear]) is None


def test_confidence_is_the_softmax_of_the_scores_sharper_at_a_lower_temperature() -> None:
    scores = np.array([2.0, 1.0, 0.5, -1.0])
    p = fusion.confidence(scores, 1.0)
    assert np.isclose(p.sum(), 1.0) and (np.diff(p) < 0).all()
    assert np.allclose(p, np.exp(scores) / np.exp(scores).sum())
    sharp = fusion.confidence(scores, 0.5)
    assert sharp[0] > p[0] and sharp[-1] < p[-1]
    assert np.allclose(fusion.confidence(scores + 100.0, 1.0), p), "shift-invariant, no overflow"
    assert len(fusion.confidence(np.zeros(0), 1.0)) == 0
    rows = np.stack([scores, scores[::-1]])
    assert fusion.confidence(rows, 0.5) == pytest.approx(np.stack([sharp, sharp[::-1]])), "row by row"


def test_diversity_choice_is_the_least_weight_whose_rows_reach_the_popular_rows_entropy() -> None:
    """Thirty items of one genre lead every case's fused order, ten of two others trail: at weight 0 the row is one
    genre; the choice is the least weight whose re-ranked rows reach the popular rows' entropy, and 0 when the
    popular rows are one genre too. The table reports each weight's NDCG@10 and entropy."""
    from hybridrec import diversity

    genres = np.zeros((40, 3), np.float32)
    genres[:30, 0], genres[30:35, 1], genres[35:, 2] = 1.0, 1.0, 1.0
    n = 50
    items = np.tile(np.arange(40), (n, 1))
    scores = np.tile(-np.arange(40, dtype=np.float64) * 0.05, (n, 1))
    mixed = np.tile(np.r_[np.arange(16), 30, 31, 35, 36], (n, 1))  # 80 / 10 / 10 % of the three genres

    def with_cold(cold: np.ndarray) -> fusion.Cases:
        none = np.zeros(cold.shape, bool)
        x = np.zeros((n, 40, 1))
        return fusion.Cases(x, np.zeros(n, np.int64), list(range(n)), items, x[:, :20], cold, none, cold[:, :0])

    cases = with_cold(mixed)
    cold_scores = np.tile(-np.arange(20.0), (n, 1))
    weights = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    weight, table = fusion.diversity_choice(scores, cold_scores, cases, genres, weights, 0.5, pool=40, row=20)
    want = float(diversity.entropy_bits(mixed[:1], genres)[0])
    assert [t["weight"] for t in table] == list(weights) and table[0]["entropy"] == pytest.approx(0.0)
    k = weights.index(weight)
    assert weight > 0 and table[k]["entropy"] >= want > table[k - 1]["entropy"]
    assert table[0]["ndcg@10"] == pytest.approx(1.0), "item 0, the target, leads the plain row"
    higher, _ = fusion.diversity_choice(scores, cold_scores, cases, genres, weights, 0.5, 40, 20, margin=0.4)
    assert higher == min(t["weight"] for t in table if t["entropy"] >= want + 0.4) > weight
    narrow = with_cold(np.tile(np.arange(20), (n, 1)))
    assert fusion.diversity_choice(scores, cold_scores, narrow, genres, weights, 0.5, pool=40, row=20)[0] == 0.0
    # ``head``: the first slots keep the fused order, so a target third in it keeps slot 3 at any weight (re-ranked
    # from slot 2 on it yields to the other genres), and the rows still reach the popular entropy from the later slots.
    third = dataclasses.replace(cases, target=np.full(n, 2))
    _, every = fusion.diversity_choice(scores, cold_scores, third, genres, weights, 0.5, 40, 20)
    _, headed = fusion.diversity_choice(scores, cold_scores, third, genres, weights, 0.5, 40, 20, head=3)
    assert all(t["ndcg@10"] == pytest.approx(0.5) for t in headed)
    assert every[-1]["ndcg@10"] < 0.5 and headed[-1]["entropy"] >= want


def test_the_popular_row_is_the_cold_order_without_what_the_user_engaged_with_then_recent_popularity() -> None:
    cold_items = np.array([[5, 6, 7, 8]])
    engaged = np.array([[False, True, False, False]])
    c = fusion.Cases(
        np.zeros((1, 4, 1)),
        np.zeros(1, np.int64),
        [0],
        cold_items,
        np.zeros((1, 4, 1)),
        cold_items,
        engaged,
        np.array([[8, 1, 2]]),
    )
    cold_scores = np.array([[0.1, 0.9, 0.5, 0.7]])  # fused order 6, 8, 7, 5; 6 engaged
    assert fusion.popular_rows(cold_scores, c, row=5).tolist() == [[8, 7, 5, 1, 2]]
    assert fusion.popular_rows(cold_scores, c, row=7).tolist() == [[8, 7, 5, 1, 2, -1, -1]]


def test_entropy_bits_of_rows_is_the_metric_s_genre_entropy() -> None:
    from hybridrec import diversity
    from hybridrec.metrics import genre_entropy

    rng = np.random.default_rng(2)
    genres = (rng.random((30, 5)) < 0.4).astype(np.float32)
    rows = rng.integers(0, 30, size=(6, 8))
    rows[0, 5:] = -1
    by_id = {str(k): genres[k] for k in range(30)}
    want = [genre_entropy([str(k) for k in r if k >= 0], by_id, 8) for r in rows]
    assert diversity.entropy_bits(rows, genres) == pytest.approx(want)
