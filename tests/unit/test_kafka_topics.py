"""Topic settings as pure logic: the durable default and the never-lower rule for min.insync.replicas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridrec.config import KafkaConfig, TopicsConfig
from hybridrec.kafka.topics import MIN_INSYNC, min_insync_to_apply, topic_specs


@pytest.mark.parametrize(
    ("rf", "configured", "expected"), [(1, None, 1), (2, None, 2), (3, None, 2), (5, None, 2), (3, 3, 3), (3, 1, 1)]
)
def test_min_insync_defaults_to_two_or_the_replica_count(rf: int, configured: int | None, expected: int) -> None:
    topics = TopicsConfig(replication_factor=rf, min_insync_replicas=configured)
    assert topics.effective_min_insync_replicas == expected
    assert {s.config[MIN_INSYNC] for s in topic_specs(KafkaConfig(topics=topics))} == {str(expected)}


def test_min_insync_above_the_replication_factor_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exceeds replication_factor"):
        TopicsConfig(replication_factor=2, min_insync_replicas=3)


@pytest.mark.parametrize(
    ("current", "configured", "replicas", "expected"),
    [
        (1, 2, 3, 2),  # raised to the configured value
        (3, 2, 3, 3),  # an operator's stricter setting stays
        (1, 2, 1, 1),  # a single-replica topic cannot take 2: every acks=all write would fail
        (2, 2, 3, 2),
        (4, 2, 3, 4),  # already above the replica count: the operator's call, left alone
    ],
)
def test_existing_topics_are_never_made_less_durable(
    current: int, configured: int, replicas: int, expected: int
) -> None:
    assert min_insync_to_apply(current, configured, replicas) == expected
