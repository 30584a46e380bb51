"""The speed layer's feature definitions, in words, and the event record the reference and the tests share.

The job computes the features in the JVM (``streaming/java/…/FeatureLogic.java``, fed one key and event-time
micro-window at a time, in event-time order: the window fires once the watermark has passed it, so every event
within the allowed out-of-orderness is in it). ``tests/support/fresh_reference.py`` computes the same features
from a whole event list directly from these definitions; ``tests/unit/streaming/test_java_features.py`` holds the
Java code to it, the integration tests hold the job to it through Feast.

Definitions (``StreamingConfig`` holds every window and half-life):
- recent items, session and taste look only at *engagement* events (``engagement_types``);
- a session ends after ``session_gap_ms`` without engagement; ``session_genres`` is the mean genre vector of
  its items; ``taste_genres`` is the sum of item genre vectors decayed by ``taste_half_life_ms`` to the last
  engagement, normalised to sum 1;
- ``counts_1h``/``counts_1d`` count events of every type (index = ``EventType`` number) in the windows
  ``(last_event_ms - window, last_event_ms]``;
- ``hidden_items`` are the distinct items of HIDE events, newest hide first, at most ``hidden_n``;
- item ``decayed_popularity`` is the sum over engagement events of ``2^-(T - t)/half_life`` at T = the item's
  last engagement time; ``trending_1h`` is the engagement count of the newest fired HOP window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hybridrec.contract import GENRES
from hybridrec_pb.events_pb2 import EventType

N_EVENT_TYPES = max(EventType.values()) + 1
N_GENRES = len(GENRES)
HIDE = EventType.HIDE

GenreLookup = Callable[[str], list[float]]


@dataclass(frozen=True, order=True)
class Event:
    """The fields of an interaction the features need; ordering is event-time order, ties by event id."""

    event_time_ms: int
    event_id: str
    item_id: str
    event_type: int
