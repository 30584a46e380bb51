"""The interaction-event codec and the validation rules applied at every edge (producer, Flink job).

Validation is pure: it returns the reason a record is rejected, or ``None``. The reason strings are part
of the contract (they travel in the ``reason`` header of dead-letter records), so they are constants.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from google.protobuf.message import DecodeError

from hybridrec.config import ValidationConfig
from hybridrec_pb.events_pb2 import Device, EventType, InteractionEvent

# Dead-letter reasons.
UNDECODABLE = "undecodable"
OVERSIZED = "oversized_payload"
MISSING_EVENT_ID = "missing_event_id"
MISSING_USER_ID = "missing_user_id"
MISSING_ITEM_ID = "missing_item_id"
ID_TOO_LONG = "id_too_long"
MISSING_EVENT_TYPE = "missing_event_type"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNKNOWN_DEVICE = "unknown_device"
EVENT_TIME_MISSING_OR_TOO_OLD = "event_time_too_old"
EVENT_TIME_IN_FUTURE = "event_time_in_future"
NON_FINITE_VALUE = "non_finite_value"
RATING_OUT_OF_RANGE = "rating_out_of_range"
THUMBS_NOT_PLUS_MINUS_ONE = "thumbs_not_plus_minus_one"
KEY_MISMATCH = "key_not_user_id"
LATE_EVENT = "late_event"
"""A valid event (archived) that came too late for its entity's order-sensitive fresh features (the speed layer's
``allowed_lateness_ms``); producers never use it."""

_EVENT_TYPES = frozenset(EventType.values()) - {EventType.EVENT_TYPE_UNSPECIFIED}
_DEVICES = frozenset(Device.values())
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(EventType.Name(v) for v in sorted(_EVENT_TYPES))


class InvalidEvent(ValueError):
    """An event that breaks the contract; ``reason`` is one of the module's reason constants."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def validate(event: InteractionEvent, cfg: ValidationConfig, now_ms: int | None = None) -> str | None:
    """Return why ``event`` must not enter the pipeline, or ``None`` when it is valid."""
    if not event.event_id:
        return MISSING_EVENT_ID
    if not event.user_id:
        return MISSING_USER_ID
    if not event.item_id:
        return MISSING_ITEM_ID
    limit = cfg.max_id_length
    if len(event.event_id) > limit or len(event.user_id) > limit or len(event.item_id) > limit:
        return ID_TOO_LONG
    etype = event.event_type
    if etype == EventType.EVENT_TYPE_UNSPECIFIED:
        return MISSING_EVENT_TYPE
    if etype not in _EVENT_TYPES:
        return UNKNOWN_EVENT_TYPE
    if event.device not in _DEVICES:
        return UNKNOWN_DEVICE
    if event.event_time_ms < cfg.min_event_time_ms:
        return EVENT_TIME_MISSING_OR_TOO_OLD
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if event.event_time_ms > now_ms + cfg.max_future_skew_s * 1000:
        return EVENT_TIME_IN_FUTURE
    value = event.value
    if not math.isfinite(value):
        return NON_FINITE_VALUE
    if etype == EventType.RATING and not 0.5 <= value <= 5.0:
        return RATING_OUT_OF_RANGE
    if etype == EventType.THUMBS and value not in (1.0, -1.0):
        return THUMBS_NOT_PLUS_MINUS_ONE
    return None


def decode(
    payload: bytes, cfg: ValidationConfig, key: bytes | None = None, now_ms: int | None = None
) -> InteractionEvent:
    """Parse and validate one Kafka record value; raise :class:`InvalidEvent` with the reason."""
    if len(payload) > cfg.max_payload_bytes:
        raise InvalidEvent(OVERSIZED, f"{len(payload)} bytes > {cfg.max_payload_bytes}")
    event = InteractionEvent()
    try:
        event.ParseFromString(payload)
    except DecodeError as exc:
        raise InvalidEvent(UNDECODABLE, str(exc)) from None
    reason = validate(event, cfg, now_ms)
    if reason is not None:
        raise InvalidEvent(reason)
    if key is not None and key != event.user_id.encode():
        raise InvalidEvent(KEY_MISMATCH, f"key {key[:64]!r} != user_id {event.user_id[:64]!r}")
    return event


def event_type_value(name: str) -> int:
    """Enum number of an event type name such as ``"RATING"`` (``KeyError`` style ``ValueError`` if unknown)."""
    return EventType.Value(name)


def device_value(name: str) -> int:
    return Device.Value(name)


def make_event(
    *,
    event_id: str,
    user_id: str,
    item_id: str,
    event_type: str,
    value: float,
    event_time_ms: int,
    surface: str = "",
    position: int = -1,
    request_id: str = "",
    variant: str = "",
    device: str = "DEVICE_UNSPECIFIED",
    country: str = "",
) -> InteractionEvent:
    """Build an event from plain values (enum fields by name)."""
    return InteractionEvent(
        event_id=event_id,
        user_id=user_id,
        item_id=item_id,
        event_type=EventType.Value(event_type),
        value=value,
        event_time_ms=event_time_ms,
        surface=surface,
        position=position,
        request_id=request_id,
        variant=variant,
        device=Device.Value(device),
        country=country,
    )


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


Clock = Callable[[], int]
