"""Plain domain records every dataset yields, so loaders, producers and trainers share one shape.

They mirror ``protos/hybridrec_pb/events.proto`` (``InteractionEvent``, ``CatalogItem``) by field name and
by enum *name* without importing protobuf, so reading a dataset never depends on generated code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Final, Protocol, runtime_checkable

EVENT_TYPES: Final[tuple[str, ...]] = (
    "IMPRESSION",
    "PLAY",
    "CLICK",
    "RATING",
    "ADD_TO_LIST",
    "THUMBS",
    "HIDE",
)
"""Names of the ``EventType`` enum values an :class:`Interaction` may carry (``UNSPECIFIED`` excluded)."""

DEVICES: Final[tuple[str, ...]] = ("DEVICE_UNSPECIFIED", "TV", "WEB", "MOBILE", "TABLET", "CONSOLE")
"""Names of the ``Device`` enum values, so producers can map them with ``Device.Value(name)``."""


@dataclass(frozen=True, slots=True)
class Item:
    """One catalog entry; ``year`` is 0 when unknown, as in the ``CatalogItem`` contract."""

    item_id: str
    title: str
    genres: tuple[str, ...]
    year: int


@dataclass(frozen=True, slots=True)
class Interaction:
    """One user event; ``event_id`` is the idempotency key downstream, so loaders make it deterministic."""

    event_id: str
    user_id: str
    item_id: str
    event_type: str
    value: float
    event_time_ms: int
    surface: str = ""
    position: int = -1
    device: str = "DEVICE_UNSPECIFIED"
    country: str = ""


# Slot descriptors of Interaction, in field order, for make_interaction below.
(
    _S_EVENT_ID,
    _S_USER_ID,
    _S_ITEM_ID,
    _S_EVENT_TYPE,
    _S_VALUE,
    _S_TIME,
    _S_SURFACE,
    _S_POSITION,
    _S_DEVICE,
    _S_COUNTRY,
) = (getattr(Interaction, f.name).__set__ for f in fields(Interaction))
_new = object.__new__


def make_interaction(
    event_id: str,
    user_id: str,
    item_id: str,
    event_type: str,
    value: float,
    event_time_ms: int,
    surface: str,
    position: int,
    device: str,
    country: str,
) -> Interaction:
    """Same object as ``Interaction(...)`` with every field given, about twice as fast.

    A frozen dataclass ``__init__`` pays ``object.__setattr__`` per field; bulk generators that build
    millions of events per run set the slots directly instead. Callers must pass every field, already typed.
    """
    obj = _new(Interaction)
    _S_EVENT_ID(obj, event_id)
    _S_USER_ID(obj, user_id)
    _S_ITEM_ID(obj, item_id)
    _S_EVENT_TYPE(obj, event_type)
    _S_VALUE(obj, value)
    _S_TIME(obj, event_time_ms)
    _S_SURFACE(obj, surface)
    _S_POSITION(obj, position)
    _S_DEVICE(obj, device)
    _S_COUNTRY(obj, country)
    return obj


@runtime_checkable
class Dataset(Protocol):
    """What replay, training and tests need from a source of events, whatever its origin.

    ``interactions()`` must yield in non-decreasing ``event_time_ms`` with a deterministic tie order, and
    may be called again to replay from the start. ``count_hint`` is the number of interactions when it is
    known without iterating (for progress bars), else ``None``.
    """

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def count_hint(self) -> int | None: ...

    def items(self) -> Iterator[Item]: ...

    def interactions(self) -> Iterator[Interaction]: ...
