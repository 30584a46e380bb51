"""The same job submitted with `flink run -py` to a standalone session cluster started from the pyflink
distribution (`make flink-cluster`) produces the reference features and the full archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridrec.config import Settings, get_settings
from hybridrec.kafka.topics import ensure_topics
from streaming import cluster
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_session_cluster_computes_reference_features(services: Settings, tmp_path: Path) -> None:
    testkit.build_jar()
    # Snapshots wait for a flush boundary an hour away: every one is written by the end of the bounded input.
    settings = testkit.isolated_streaming_settings(get_settings(), tmp_path, flush_interval_ms=3_600_000)
    started_here = not cluster.is_up(settings)
    cluster.up(settings)
    ensure_topics(settings.kafka)
    try:
        world = testkit.make_world(300, disorder_ms=1_500, seed=23)
        testkit.publish_catalog(settings, world.genres)
        testkit.produce(settings, world.events)
        assert cluster.submit(settings, testkit.settings_file(settings, tmp_path / "settings.json")) == 0

        assert testkit.feature_mismatches(settings, world.pairs(), world.genre_lookup) == {}
        ids = testkit.read_archive(settings).column("event_id").to_pylist()
        assert sorted(ids) == sorted(e.event_id for e in world.events)
    finally:
        testkit.discard(settings)
        if started_here:
            cluster.down(settings)
