"""Edge validation rules of the event contract (pure logic)."""

from __future__ import annotations

import math

import pytest

from hybridrec import events
from hybridrec.config import ValidationConfig
from hybridrec.events import InvalidEvent, decode, make_event, validate
from hybridrec_pb.events_pb2 import InteractionEvent

CFG = ValidationConfig()
NOW = 1_750_000_000_000


def _event(**changes: object) -> InteractionEvent:
    event = make_event(
        event_id="e1",
        user_id="u1",
        item_id="i1",
        event_type="RATING",
        value=4.0,
        event_time_ms=NOW - 1000,
        device="TV",
        country="NL",
    )
    for key, value in changes.items():
        setattr(event, key, value)
    return event


def test_valid_event_passes_and_round_trips() -> None:
    event = _event()
    assert validate(event, CFG, NOW) is None
    assert decode(event.SerializeToString(), CFG, key=b"u1", now_ms=NOW) == event


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": ""}, events.MISSING_EVENT_ID),
        ({"user_id": ""}, events.MISSING_USER_ID),
        ({"item_id": ""}, events.MISSING_ITEM_ID),
        ({"user_id": "u" * 200}, events.ID_TOO_LONG),
        ({"event_type": 0}, events.MISSING_EVENT_TYPE),
        ({"event_type": 42}, events.UNKNOWN_EVENT_TYPE),
        ({"device": 17}, events.UNKNOWN_DEVICE),
        ({"event_time_ms": 0}, events.EVENT_TIME_MISSING_OR_TOO_OLD),
        ({"event_time_ms": NOW + 301_000}, events.EVENT_TIME_IN_FUTURE),
        ({"value": math.nan}, events.NON_FINITE_VALUE),
        ({"value": 5.5}, events.RATING_OUT_OF_RANGE),
        ({"event_type": 6, "value": 0.5}, events.THUMBS_NOT_PLUS_MINUS_ONE),
    ],
)
def test_each_rule_names_its_reason(changes: dict[str, object], reason: str) -> None:
    assert validate(_event(**changes), CFG, NOW) == reason
    with pytest.raises(InvalidEvent) as info:
        decode(_event(**changes).SerializeToString(), CFG, now_ms=NOW)
    assert info.value.reason == reason


def test_future_skew_boundary_is_inclusive() -> None:
    assert validate(_event(event_time_ms=NOW + CFG.max_future_skew_s * 1000), CFG, NOW) is None


def test_undecodable_oversized_and_key_mismatch() -> None:
    payload = _event().SerializeToString()
    for bad, reason in [
        (payload[:-3], events.UNDECODABLE),
        (b"\xff" * 10, events.UNDECODABLE),
        (_event(surface="x" * CFG.max_payload_bytes).SerializeToString(), events.OVERSIZED),
    ]:
        with pytest.raises(InvalidEvent) as info:
            decode(bad, CFG, now_ms=NOW)
        assert info.value.reason == reason
    with pytest.raises(InvalidEvent) as info:
        decode(payload, CFG, key=b"someone-else", now_ms=NOW)
    assert info.value.reason == events.KEY_MISMATCH
