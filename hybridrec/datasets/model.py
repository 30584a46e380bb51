"""Plain domain records every dataset yields, so loaders, producers and trainers share one shape.

They mirror ``protos/hybridrec_pb/events.proto`` (``InteractionEvent``, ``CatalogItem``) by field name and
by enum *name* without importing protobuf, so reading a dataset never depends on generated code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
