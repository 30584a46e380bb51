"""The replay protocol on small hand-made tables: the cut, target selection, pauses, expected states."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from hybridrec import nextitem
from hybridrec.contract import archive_table
from hybridrec.nextitem import Target, UserState

T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC
DAY_MS = 86_400_000


def _events(rows: list[tuple[str, str, int, str]]) -> object:
    return archive_table(
        [
            {"event_id": f"e{n:03d}", "user_id": u, "item_id": i, "event_time_ms": t, "event_type": k}
            for n, (u, i, t, k) in enumerate(rows)
        ]
    )


def test_cut_keeps_one_millisecond_on_one_side() -> None:
    rows = [("u", f"i{n}", T0 + n * DAY_MS, "RATING") for n in range(8)] + [("v", "x", T0 + 7 * DAY_MS, "RATING")]
    c = nextitem.cut(_events(rows), 0.75)  # the 7th event's millisecond is shared with the 9th row
    assert c.history.num_rows == 6 and c.live.num_rows == 3
    assert c.split_ms == T0 + 6 * DAY_MS and c.as_of == date(2023, 11, 20) and c.window_days == 6
    assert max(c.history.column("event_time_ms").to_pylist()) < c.split_ms
    with pytest.raises(ValueError, match="no live period"):
        nextitem.cut(_events([("u", f"i{n}", T0, "PLAY") for n in range(5)]), 0.5)


def _cut() -> nextitem.Cut:
    history = [
        ("a", "i1", T0, "RATING"),
        ("a", "i2", T0 + 1000, "RATING"),
        ("b", "i3", T0 + 2000, "PLAY"),
        ("b", "i9", T0 + 2500, "IMPRESSION"),  # i9 is not known: never engaged in the history
    ]
    live = [
        ("a", "i3", T0 + DAY_MS, "RATING"),  # target: a's first live event, known item
        ("c", "i1", T0 + DAY_MS + 10, "PLAY"),  # target of a new user
        ("a", "i1", T0 + DAY_MS + 20, "PLAY"),  # a engaged i1 before: a repeat, not a target
        ("c", "new", T0 + DAY_MS + 30, "PLAY"),  # unknown item
        ("c", "i2", T0 + DAY_MS + 40, "IMPRESSION"),  # not an engagement
        ("c", "i2", T0 + DAY_MS + 40, "CLICK"),  # target; its previous event (same ms) does not count
        ("b", "i9", T0 + DAY_MS + 50, "PLAY"),  # i9 unknown
        ("a", "i2", T0 + DAY_MS + 60, "CLICK"),  # repeat of a history item
        ("b", "i1", T0 + DAY_MS + 70, "PLAY"),  # target of a returning user
        ("c", "i3", T0 + DAY_MS + 80, "PLAY"),  # a 3rd target of c: over max_per_user=2
    ]
    return nextitem.cut(_events(history + live), 4 / 14)


def test_targets_are_first_engagements_with_known_items_per_user() -> None:
    c = _cut()
    targets = nextitem.select_targets(c.history, c.live, max_per_user=2)
    got = [(t.user_id, t.item_id, t.returning, t.after_ms) for t in targets]
    assert got == [
        ("a", "i3", True, T0 + 1000),
        ("c", "i1", False, -1),
        ("c", "i2", False, T0 + DAY_MS + 30),  # the impression of the same millisecond is not "before"
        ("b", "i1", True, T0 + DAY_MS + 50),
    ]
    assert [t.position for t in targets] == [0, 1, 5, 8]
    assert len(nextitem.select_targets(c.history, c.live)) == 5  # no cap: c's third target counts too


def _target(user: str, t: int, after: int, pos: int = 0) -> Target:
    return Target(pos, user, "x", t, True, after)


def test_pauses_are_the_fewest_that_serve_every_target() -> None:
    live_times = np.array([100, 200, 300, 400, 500, 600])
    targets = [
        _target("a", 300, 100, 2),  # (100, 300]
        _target("b", 400, 250, 3),  # (250, 400]: served by a pause at 300 (b has no event in [300, 400))
        _target("a", 500, 300, 4),  # (300, 500]: a's own target at 300 lies in between, needs a later pause
        _target("c", 600, -1, 5),  # (-1, 600]: served by the pause at 500
    ]
    pauses = nextitem.plan_pauses(live_times, targets)
    assert [(p.time_ms, p.position, p.watermark_ms, [t.user_id for t in p.targets]) for p in pauses] == [
        (300, 2, 299, ["a", "b"]),
        (500, 4, 499, ["a", "c"]),
    ]
    for p in pauses:  # every target's interval holds its pause
        assert all(t.after_ms < p.time_ms <= t.time_ms for t in p.targets)


def test_expected_state_is_the_users_events_strictly_before_a_time() -> None:
    c = _cut()
    truth = nextitem.Timeline([c.history, c.live])
    assert truth.state_before("c", T0 + DAY_MS + 40, 20) == UserState(
        T0 + DAY_MS + 30, ("new", "i1"), (T0 + DAY_MS + 30, T0 + DAY_MS + 10)
    )
    assert truth.state_before("c", T0 + DAY_MS + 10, 20) == UserState()
    a = truth.state_before("a", T0 + DAY_MS + 61, 2)
    assert a.recent_items == ("i2", "i1") and a.full and a.last_event_ms == T0 + DAY_MS + 60
    assert truth.engaged_before("a", T0 + DAY_MS + 21) == ["i1", "i2", "i3", "i1"]
    assert truth.engaged_before("nobody", T0) == []


def test_state_matches_tolerates_order_within_a_millisecond_only() -> None:
    want = UserState(30, ("x", "y", "z"), (30, 30, 20))
    assert nextitem.state_matches(UserState(30, ("y", "x", "z"), (30, 30, 20)), want)
    assert not nextitem.state_matches(UserState(30, ("x", "z", "y"), (30, 30, 20)), want)  # z is older
    assert not nextitem.state_matches(UserState(29, ("x", "y", "z"), (30, 30, 20)), want)
    assert not nextitem.state_matches(UserState(30, ("x", "y"), (30, 30)), want)  # one engagement lost
    # a full window may cut its oldest millisecond at any of its events
    full = UserState(30, ("x", "y"), (30, 20), full=True)
    assert nextitem.state_matches(UserState(30, ("x", "q"), (30, 20)), full)
    assert nextitem.state_matches(UserState(), UserState())
    assert not nextitem.state_matches(UserState(5, ("x",), (5,)), UserState())


def test_known_items_can_stand_in_for_the_whole_history() -> None:
    """The nightly gate passes only its sampled users' history, and the catalog's known items beside it."""
    c = _cut()
    partial = c.history.filter(np.array([u == "a" for u in c.history.column("user_id").to_pylist()]))
    got = nextitem.select_targets(partial, c.live, max_per_user=2, known_items={"i1", "i2", "i3"})
    assert [(t.user_id, t.item_id, t.returning) for t in got] == [
        ("a", "i3", True),
        ("c", "i1", False),
        ("c", "i2", False),
        ("b", "i1", False),
    ]  # b's history was left out
