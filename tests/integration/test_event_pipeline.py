"""The event contract through the real broker: round trip, partitioning by user, dead-lettering."""

from __future__ import annotations

import functools
from collections import defaultdict

import pytest

from hybridrec.config import Settings, with_section
from hybridrec.events import make_event
from hybridrec.kafka.producer import EventProducer
from hybridrec_pb.events_pb2 import InteractionEvent
from tests.helpers import consume, mutated

pytestmark = pytest.mark.integration

NOW_MS = 1_750_000_000_000


def _events(n: int, users: int = 37) -> list[InteractionEvent]:
    types = ["IMPRESSION", "PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS", "HIDE"]
    out = []
    for i in range(n):
        etype = types[i % len(types)]
        value = {"RATING": 0.5 + (i % 10) * 0.5, "THUMBS": 1.0 if i % 2 else -1.0, "PLAY": 42.5}.get(etype, 0.0)
        out.append(
            make_event(
                event_id=f"e{i}",
                user_id=f"u{i % users}",
                item_id=f"i{(i * 7) % 101}",
                event_type=etype,
                value=value,
                event_time_ms=NOW_MS - 10_000_000 + i,
                surface="homepage/trending_now",
                position=i % 20,
                request_id=f"r{i // 20}",
                variant="B" if i % 3 else "A",
                device=["TV", "WEB", "MOBILE"][i % 3],
                country="NL",
            )
        )
    return out


def test_round_trip_keys_and_partitioning(isolated: Settings) -> None:
    events = _events(2_000)
    producer = EventProducer(isolated.kafka, isolated.validation, clock=lambda: NOW_MS)
    for event in events:
        assert producer.send(event)
    producer.flush()

    records = consume(isolated.kafka.bootstrap_servers, isolated.kafka.topics.interactions, len(events))
    assert len(records) == len(events)
    received = {}
    partitions_of_user: dict[str, set[int]] = defaultdict(set)
    for msg in records:
        event = InteractionEvent.FromString(msg.value())
        assert msg.key() == event.user_id.encode()
        partitions_of_user[event.user_id].add(msg.partition())
        received[event.event_id] = event
    assert received == {e.event_id: e for e in events}
    assert all(len(p) == 1 for p in partitions_of_user.values()), "a user's events span partitions"
    assert len({p for ps in partitions_of_user.values() for p in ps}) > 1, "all users on one partition"
    # Per-user order is preserved within the partition.
    by_user: dict[str, list[int]] = defaultdict(list)
    for msg in records:
        event = InteractionEvent.FromString(msg.value())
        by_user[event.user_id].append(event.event_time_ms)
    assert all(times == sorted(times) for times in by_user.values())
    assert producer.stats.delivery_failures == 0


def test_bad_records_are_dead_lettered_with_reasons(isolated: Settings) -> None:
    cfg = isolated.validation
    good = _events(500)
    proto = good[0]

    variant = functools.partial(mutated, proto)

    bad = {
        "undecodable": proto.SerializeToString()[:-7],
        "unknown_event_type": variant(event_type=99),
        "missing_user_id": variant(user_id=""),
        "event_time_in_future": variant(event_time_ms=NOW_MS + 3_600_000),
        "oversized_payload": variant(surface="x" * (cfg.max_payload_bytes + 1)),
        "rating_out_of_range": variant(event_type=4, value=7.0),
        "missing_event_type": variant(event_type=0),
    }
    producer = EventProducer(isolated.kafka, cfg, clock=lambda: NOW_MS)
    for i, event in enumerate(good):
        assert producer.send_raw(event.SerializeToString(), event.user_id.encode())
        if i % 100 == 0:
            for payload in bad.values():
                assert not producer.send_raw(payload, proto.user_id.encode())
    producer.flush()
    rounds = 5
    assert producer.stats.accepted == len(good)
    assert producer.stats.dead_lettered == rounds * len(bad)

    topics = isolated.kafka.topics
    received = consume(isolated.kafka.bootstrap_servers, topics.interactions, len(good))
    assert sorted(InteractionEvent.FromString(m.value()).event_id for m in received) == sorted(e.event_id for e in good)

    dead = consume(isolated.kafka.bootstrap_servers, topics.dlq, rounds * len(bad))
    assert len(dead) == rounds * len(bad)
    by_reason: dict[str, list[bytes]] = defaultdict(list)
    for msg in dead:
        headers = dict(msg.headers())
        assert headers["source_topic"] == topics.interactions.encode()
        by_reason[headers["reason"].decode()].append(msg.value())
    assert set(by_reason) == set(bad)
    for reason, payloads in by_reason.items():
        assert payloads == [bad[reason]] * rounds, f"raw bytes not preserved for {reason}"


def test_batch_path_matches_single_event_path_on_the_broker(isolated: Settings) -> None:
    """send_batch must put the same bytes on the same partitions as send, and dead-letter the same rows."""
    from hybridrec.contract import archive_table

    rows = [
        {
            "event_id": e.event_id,
            "user_id": e.user_id,
            "item_id": e.item_id,
            "event_type": InteractionEvent.DESCRIPTOR.fields_by_name["event_type"]
            .enum_type.values_by_number[e.event_type]
            .name,
            "value": e.value,
            "event_time_ms": e.event_time_ms,
            "surface": e.surface,
            "position": e.position,
            "request_id": e.request_id,
            "variant": e.variant,
            "device": ["DEVICE_UNSPECIFIED", "TV", "WEB", "MOBILE"][e.device],
            "country": e.country,
        }
        for e in _events(1_000)
    ]
    rows[10]["user_id"] = ""
    rows[20]["event_type"] = "TELEPORT"
    rows[30]["value"] = 9.0
    rows[30]["event_type"] = "RATING"

    single = EventProducer(isolated.kafka, isolated.validation, clock=lambda: NOW_MS)
    for row in rows:
        try:
            single.send(make_event(**row))  # type: ignore[arg-type]
        except ValueError:  # an enum name the protobuf runtime cannot even represent
            single.dead_letter(b"", row["user_id"].encode(), "unknown_event_type")  # type: ignore[union-attr]
    single.flush()

    batched_kafka = with_section(isolated.kafka, "topics", interactions=isolated.kafka.topics.impressions)
    batched = EventProducer(batched_kafka, isolated.validation, clock=lambda: NOW_MS)
    assert batched.send_batch(archive_table(rows)) == len(rows) - 3
    batched.flush()
    assert (
        batched.stats.dlq_reasons
        == single.stats.dlq_reasons
        == {"missing_user_id": 1, "unknown_event_type": 1, "rating_out_of_range": 1}
    )

    bootstrap = isolated.kafka.bootstrap_servers
    a = {m.value(): m.partition() for m in consume(bootstrap, isolated.kafka.topics.interactions, len(rows) - 3)}
    b = {m.value(): m.partition() for m in consume(bootstrap, isolated.kafka.topics.impressions, len(rows) - 3)}
    assert len(a) == len(rows) - 3
    assert a == b


def test_undeliverable_records_are_counted_and_surfaced(isolated: Settings) -> None:
    """A record the broker never acknowledges must make flush() raise, never pass silently."""
    from hybridrec.kafka.producer import DeliveryError

    missing = "no-such-topic-" + isolated.kafka.topics.dlq
    kafka = with_section(isolated.kafka, "topics", interactions=missing)
    kafka = with_section(kafka, "producer", delivery_timeout_ms=3000)
    producer = EventProducer(kafka, isolated.validation, clock=lambda: NOW_MS)
    for event in _events(25):
        producer.send(event)
    with pytest.raises(DeliveryError, match="25 records were rejected"):
        producer.flush(timeout_s=30)
    assert producer.stats.delivery_failures == 25
    assert sum(producer.stats.failure_reasons.values()) == 25
