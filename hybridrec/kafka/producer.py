"""The one way events enter Kafka: validated at the edge, idempotent, acks=all, nothing dropped silently.

A valid event goes to ``interactions`` keyed by user_id. An invalid record goes to ``interactions.dlq`` with
its raw bytes and the reason in headers. Records the broker could not take are counted by error and
reported by :meth:`EventProducer.flush`, which raises rather than pretend they were delivered.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, Message, Producer

from hybridrec import columnar
from hybridrec.config import KafkaConfig, ValidationConfig
from hybridrec.events import OVERSIZED, InvalidEvent, decode, validate, wall_clock_ms
from hybridrec_pb.events_pb2 import InteractionEvent

# Room left for headers and record overhead when a rejected payload must fit in the dead-letter topic.
_DLQ_HEADROOM_BYTES = 4096


class DeliveryError(RuntimeError):
    """Some records were not acknowledged by the broker; the message says how many and why."""


@dataclass
class ProducerStats:
    accepted: int = 0
    dead_lettered: int = 0
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    delivery_failures: int = 0
    failure_reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "dead_lettered": self.dead_lettered,
            "dlq_reasons": dict(self.dlq_reasons),
            "delivery_failures": self.delivery_failures,
            "failure_reasons": dict(self.failure_reasons),
        }


def dlq_headers(
    reason: str, detail: str, source_topic: str, component: str, payload: bytes, now_ms: int
) -> list[tuple[str, bytes]]:
    """Headers of a dead-letter record; shared by every component that rejects events."""
    return [
        ("reason", reason.encode()),
        ("detail", detail[:1000].encode()),
        ("source_topic", source_topic.encode()),
        ("component", component.encode()),
        ("rejected_at_ms", str(now_ms).encode()),
        ("original_size", str(len(payload)).encode()),
        ("sha256", hashlib.sha256(payload).hexdigest().encode()),
    ]


def producer_config(cfg: KafkaConfig) -> dict[str, Any]:
    p = cfg.producer
    return {
        "bootstrap.servers": cfg.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": p.linger_ms,
        "batch.size": p.batch_size,
        "compression.type": p.compression_type,
        "queue.buffering.max.messages": p.queue_buffering_max_messages,
        "delivery.timeout.ms": p.delivery_timeout_ms,
        # Same partitioner as the Java clients (Flink, Kafka tools), so a user maps to one partition everywhere.
        "partitioner": "murmur2_random",
        "delivery.report.only.error": True,
    }


def produce_waiting(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce one record; when the local queue is full, serve delivery reports until there is room (never drop)."""
    while True:
        try:
            producer.produce(topic, value, key, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)


def drain_timeout_s(cfg: KafkaConfig) -> float:
    """Long enough for every queued record to get its verdict: the client fails a record it could not deliver
    within ``delivery.timeout.ms``, so after this wait a record is acknowledged or counted as failed."""
    return cfg.producer.delivery_timeout_ms / 1000 + 5.0


class EventProducer:
    """Validating producer for interaction events. Not thread-safe; one per thread."""

    def __init__(
        self,
        kafka: KafkaConfig,
        validation: ValidationConfig,
        *,
        component: str = "producer",
        clock: Any = wall_clock_ms,
    ) -> None:
        self._kafka = kafka
        self._validation = validation
        self._component = component
        self._clock = clock
        self._topic = kafka.topics.interactions
        self._dlq = kafka.topics.dlq
        self._dlq_max = kafka.topics.max_message_bytes - _DLQ_HEADROOM_BYTES
        self.stats = ProducerStats()
        self._producer = Producer({**producer_config(kafka), "on_delivery": self._on_delivery})

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.stats.delivery_failures += 1
            self.stats.failure_reasons[err.name()] += 1

    def _produce(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        produce_waiting(self._producer, topic, value, key, headers)

    def send(self, event: InteractionEvent) -> bool:
        """Validate and produce one event; an invalid one is dead-lettered. Returns whether it was valid."""
        reason = validate(event, self._validation, self._clock())
        payload = event.SerializeToString()
        if reason is None and len(payload) > self._validation.max_payload_bytes:
            reason = OVERSIZED
        key = event.user_id.encode()
        if reason is not None:
            self.dead_letter(payload, key, reason)
            return False
        self._produce(self._topic, payload, key)
        self.stats.accepted += 1
        return True

    def send_raw(self, payload: bytes, key: bytes | None = None) -> bool:
        """Produce bytes received from elsewhere (e.g. an HTTP edge) after decoding and validating them."""
        try:
            event = decode(payload, self._validation, key=key, now_ms=self._clock())
        except InvalidEvent as exc:
            self.dead_letter(payload, key, exc.reason, exc.detail)
            return False
        self._produce(self._topic, payload, event.user_id.encode())
        self.stats.accepted += 1
        return True

    def send_batch(self, batch: pa.RecordBatch | pa.Table) -> int:
        """Validate and produce a columnar batch (archive columns) in one go; invalid rows are dead-lettered.

        Same rules, reasons and wire bytes as :meth:`send`, computed column-wise (see ``hybridrec.columnar``).
        Returns the number of valid rows."""
        reasons = columnar.validate(batch, self._validation, self._clock())
        encoded = columnar.encode(batch)
        too_big = pc.greater(pc.binary_length(encoded), self._validation.max_payload_bytes).to_numpy(
            zero_copy_only=False
        )
        values = columnar.to_bytes_list(encoded)
        keys = columnar.to_bytes_list(batch.column("user_id"))
        for i in np.flatnonzero(too_big):
            reasons[i] = reasons[i] or OVERSIZED
        rejected = [i for i, reason in enumerate(reasons) if reason is not None]
        for i in rejected:
            self.dead_letter(values[i], keys[i], reasons[i])  # type: ignore[arg-type]
        if rejected:
            keep = set(range(len(values))) - set(rejected)
            values = [values[i] for i in sorted(keep)]
            keys = [keys[i] for i in sorted(keep)]
        # The hot loop: one C call per record, the queue-full retry only when it happens. Counted as it goes, so
        # an error part-way leaves ``accepted`` equal to the records actually handed to the client.
        produce, topic = self._producer.produce, self._topic
        handed = 0
        try:
            for value, key in zip(values, keys, strict=True):
                try:
                    produce(topic, value, key)
                except BufferError:
                    self._produce(topic, value, key)
                handed += 1
        finally:
            self.stats.accepted += handed
        return len(values)

    def dead_letter(self, payload: bytes, key: bytes | None, reason: str, detail: str = "") -> None:
        headers = dlq_headers(reason, detail, self._topic, self._component, payload, self._clock())
        if len(payload) > self._dlq_max:
            # Keep the record (and its checksum and size in headers) rather than lose it to the size limit.
            payload = payload[: self._dlq_max]
            headers.append(("truncated", b"true"))
        self._produce(self._dlq, payload, key, headers)
        self.stats.dead_lettered += 1
        self.stats.dlq_reasons[reason] += 1

    def poll(self) -> None:
        self._producer.poll(0)

    def drain(self, timeout_s: float | None = None) -> int:
        """Wait for the verdict on every queued record (default :func:`drain_timeout_s`); return how many are still
        unacknowledged. Failures are in ``stats``; nothing is raised, so a caller that is stopping can report."""
        return int(self._producer.flush(drain_timeout_s(self._kafka) if timeout_s is None else timeout_s))

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every record to be acknowledged; raise :class:`DeliveryError` if any was not."""
        remaining = self.drain(timeout_s)
        if remaining:
            raise DeliveryError(
                f"{remaining} records still unacknowledged after {timeout_s:.0f}s; "
                f"is the broker at {self._kafka.bootstrap_servers} up? (`make status`)"
            )
        if self.stats.delivery_failures:
            raise DeliveryError(
                f"{self.stats.delivery_failures} records were rejected by the broker: "
                f"{dict(self.stats.failure_reasons)}"
            )
