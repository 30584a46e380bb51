"""FOR_YOU's prior weights chosen on a validation cut (hybridrec.prior_choice), on hand-made engagements."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from hybridrec import neighbours, prior_choice
from hybridrec.prior_choice import Engagements, Grid

DAY = 86_400_000


def table(rows: Sequence[tuple[int, int, int]]) -> Engagements:
    """(user, item, time) rows, already in stream order."""
    u, i, t = (np.array(c, np.int64) for c in zip(*rows, strict=True))
    return Engagements(u, i, t)


def lists(n_items: int, pairs: dict[int, list[tuple[int, float]]]) -> neighbours.Neighbours:
    indptr, indices, scores = [0], [], []
    for item in range(n_items):
        for j, s in pairs.get(item, []):
            indices.append(j)
            scores.append(s)
        indptr.append(len(indices))
    return neighbours.Neighbours(np.array(indptr), np.array(indices, np.int32), np.array(scores, np.float32))


# users 0-2 engage items 0 then 1 (and user 2 item 2); then, after the cut, user 0 engages 2 (new to them, known),
# user 1 engages 1 again (not new), user 2 engages 3 (never engaged before the cut) and user 0 engages -1 (unknown).
EVENTS = table(
    [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 4), (2, 0, 5), (2, 1, 6), (2, 2, 7), (0, 2, 10), (1, 1, 11), (2, 3, 12)]
)
CUT = 7
N = 20  # items: enough that a tie of every unseen item leaves the target out of the top 10


def test_targets_are_new_known_items_with_the_users_engagements_before_them_newest_first() -> None:
    targets = prior_choice.validation_targets(EVENTS, CUT, max_per_user=5, max_targets=10)
    assert [(t.row, t.item, t.engaged) for t in targets] == [(7, 2, [1, 0])]
    assert prior_choice.validation_targets(EVENTS, CUT, max_per_user=0, max_targets=10) == []


def test_targets_are_thinned_evenly() -> None:
    # users 1-6 engage item 0 after the cut at row 1, user 1 twice (the second is not new)
    e = table([(0, 0, 0), *((u, 0, 10 + u) for u in range(1, 7)), (1, 0, 30)])
    assert len(prior_choice.validation_targets(e, 1, max_per_user=5, max_targets=10)) == 6
    assert [t.row for t in prior_choice.validation_targets(e, 1, max_per_user=5, max_targets=3)] == [1, 3, 6]


def test_decayed_popularity_matches_the_sum_over_earlier_engagements() -> None:
    e = table([(0, 0, 0), (1, 0, DAY), (1, 1, 2 * DAY), (2, 1, 4 * DAY)])
    targets = [prior_choice.Target(3, 1, 4 * DAY, []), prior_choice.Target(3, 1, 6 * DAY, [])]
    got = prior_choice.decayed_popularity(e, targets, 3, 2 * DAY)
    want0 = [2**-2 + 2**-1.5, 2**-1, 0]  # the engagement at 4 d is not before the first target
    want1 = [2**-3 + 2**-2.5, 2**-2 + 2**-1, 0]
    assert got == pytest.approx(np.log1p([want0, want1]), rel=1e-5)


def test_decayed_popularity_is_the_speed_layer_s_count_as_serving_decays_it() -> None:
    """One definition, three executions: the batch's one-pass recomputation per validation target must equal the
    declared ``DecayedCount`` of ``item_fresh`` (the reference the JVM operator is held to) over the engagements
    before the target, decayed from the item's newest engagement to the target's time as serving decays it
    (``serving.trending.recent_popularity``), at every half-life the speed layer keeps."""
    from hybridrec.fresh_features import ITEM_FRESH, recent_popularity_values
    from hybridrec_pb.events_pb2 import EventType
    from serving.features.base import Trending
    from serving.trending import recent_popularity
    from tests.support.fresh_reference import Event, view_features

    rng = np.random.default_rng(5)
    n_items, n = 8, 200
    times = np.sort(rng.integers(0, 400 * DAY, n))
    e = Engagements(rng.integers(0, 30, n), rng.integers(0, n_items, n), times)
    at = np.sort(rng.choice(n, 15, replace=False))
    targets = [prior_choice.Target(int(r), int(e.items[r]), int(e.times[r]), []) for r in at]
    events = [
        Event(int(t), f"e{k}", f"i{i}", EventType.PLAY) for k, (i, t) in enumerate(zip(e.items, e.times, strict=True))
    ]
    item_pos = {f"i{k}": k for k in range(n_items)}
    stored = []  # per target: item → its item_fresh as the speed layer holds it just before the target
    for target in targets:
        fresh = {}
        for item in item_pos:
            before = [x for x in events if x.item_id == item and x.event_time_ms < target.time_ms]
            if before:
                ref = view_features(ITEM_FRESH, before, lambda _: [])
                kept = {h: float(ref[f]) for h, f in recent_popularity_values().items()}
                fresh[item] = Trending(0, 0, 0.0, int(ref["last_event_ms"]), 0.0, kept)
        stored.append(fresh)
    for half_life in recent_popularity_values():
        got = prior_choice.decayed_popularity(e, targets, n_items, half_life)
        for row, target, fresh in zip(got, targets, stored, strict=True):
            want = recent_popularity(fresh, item_pos, target.time_ms, half_life)
            assert row == pytest.approx(want, rel=1e-5, abs=1e-7), (half_life, target)


def test_the_grid_s_ndcg_is_the_replay_s_ndcg_and_counts_ties_against_the_target() -> None:
    """The grid scores dense arrays (``ndcg_at_10``) where the replay scores ranked lists (``metrics.ndcg_at_k``):
    without ties they agree; a tie with the target ranks it below the tied items (never flatters a weighting)."""
    from hybridrec.metrics import ndcg_at_k

    rng = np.random.default_rng(11)
    scores = rng.random((200, 40))
    scores[rng.random((200, 40)) < 0.1] = -np.inf  # engaged items
    targets = [prior_choice.Target(r, int(rng.integers(0, 40)), 0, []) for r in range(200)]
    got = prior_choice.ndcg_at_10(scores, targets)
    for r, t in enumerate(targets):
        ranked = [str(i) for i in np.argsort(-scores[r], kind="stable") if np.isfinite(scores[r, i])]
        assert got[r] == pytest.approx(ndcg_at_k(ranked, {str(t.item)}, 10))
    tied = np.array([[0.5, 0.5, 0.5, 0.1]])
    assert prior_choice.ndcg_at_10(tied, [prior_choice.Target(0, 0, 0, [])])[0] == pytest.approx(1 / np.log2(4))


def test_choose_keeps_the_weighting_that_ranks_the_validation_targets_best() -> None:
    wrong = lists(N, {1: [(3, 1.0)]})  # co-occurrence: after 1 comes 3
    right = lists(N, {1: [(2, 1.0)]})  # EASE: after 1 comes 2 (the validation target)
    grid = Grid(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.5, 0.5)), (DAY,))
    fit: list[int] = []

    def cooc(seqs: Sequence[np.ndarray]) -> neighbours.Neighbours:
        fit.append(sum(len(s) for s in seqs))
        return wrong

    got = prior_choice.choose(EVENTS, N, cooc, lambda _: right, grid, validation_fraction=0.3)
    assert got is not None
    assert (got.ease_weight, got.recent_popularity_weight, got.half_life_ms) == (1.0, 0.0, DAY)
    assert got.ndcg == pytest.approx(1.0) and got.targets == 1
    assert fit == [CUT]  # the lists are fit on the events before the cut only
    # all parts 0: every unseen item ties, the target ranks last; recent popularity alone also finds item 2
    assert [s[3] for s in got.scored] == pytest.approx([0.0, 1.0, 1.0, 1.0])
    assert got.as_manifest()["ease_weight"] == 1.0


def test_choose_without_targets_or_ease_lists() -> None:
    grid = Grid(((0.0, 0.0),), (DAY,))
    assert prior_choice.choose(EVENTS, N, lambda _: None, lambda _: None, grid, validation_fraction=0.05) is None
    got = prior_choice.choose(EVENTS, N, lambda _: None, lambda _: None, grid, validation_fraction=0.3)
    assert got is not None and got.ndcg == 0.0  # every part off: all items tie, the target is not ranked
