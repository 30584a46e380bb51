"""Kill -9 of the whole job (client and MiniCluster JVM) mid-stream, restart from the last checkpoint, then a
planned stop with a savepoint (SIGTERM) and a restart from that savepoint: the features read through Feast and
the Parquet archive equal the reference, with nothing lost or doubled."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hybridrec.config import Settings, get_settings
from hybridrec.kafka.producer import EventProducer
from hybridrec.kafka.topics import ensure_topics
from tests.support import streaming_kit as testkit
from tests.support.fresh_reference import mismatches, reference_features

# Three job starts (run, restore from checkpoint, restore from savepoint): more than the default per-test limit
# when the shared machine is loaded.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]


def test_kill_restore_from_checkpoint_then_savepoint(services: Settings, tmp_path: Path) -> None:
    testkit.build_jar()
    settings = testkit.isolated_streaming_settings(get_settings(), tmp_path, bounded=False,
                                                   checkpoint_interval_ms=1_000)
    ensure_topics(settings.kafka)
    world = testkit.make_world(1_200, disorder_ms=1_500, seed=11)
    first, rest, tail = world.events[:500], world.events[500:1_000], world.events[1_000:]
    testkit.publish_catalog(settings, world.genres)
    testkit.produce(settings, first)

    def produce_slowly() -> None:
        producer = EventProducer(settings.kafka, settings.validation)
        for n, e in enumerate(rest):
            producer.send(e)
            if n % 20 == 0:
                producer.flush()
                time.sleep(0.1)
        producer.flush()

    jobs = []
    try:
        job = testkit.JobProcess(settings, tmp_path / "run1")
        jobs.append(job)
        # Wait until the first events are archived, i.e. at least one checkpoint committed work.
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows > 0, 420), job.tail()
        feeder = threading.Thread(target=produce_slowly)
        feeder.start()
        time.sleep(3)
        job.kill()  # SIGKILL while events are still arriving and being processed
        killed_with = testkit.read_archive(settings).num_rows
        feeder.join()
        checkpoint = testkit.latest_checkpoint(settings.checkpoint_dir)
        assert checkpoint is not None
        restored = settings.model_copy(update={"streaming": settings.streaming.model_copy(
            update={"restore_from": checkpoint})})
        job = testkit.JobProcess(restored, tmp_path / "run2")
        jobs.append(job)
        before = {e.event_id for e in first + rest}
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows >= len(before), 420), job.tail()

        # Planned restart: SIGTERM stops the job with a savepoint; the tail arrives while it is down.
        job.proc.send_signal(signal.SIGTERM)
        assert job.wait(120) == 0, job.tail()
        found = re.search(r"^savepoint: (\S+)$", job.log.read_text(), re.M)
        assert found, job.tail()
        savepoint = Path(urlparse(found.group(1)).path)
        assert (savepoint / "_metadata").exists()
        testkit.produce(settings, tail)
        sentinels = testkit.produce_sentinels(settings, max(e.event_time_ms for e in world.events) + 7_200_000)
        job = testkit.JobProcess(settings.model_copy(update={"streaming": settings.streaming.model_copy(
            update={"restore_from": savepoint})}), tmp_path / "run3")
        jobs.append(job)

        expected_ids = {e.event_id for e in world.events} | {e.event_id for e in sentinels}
        assert testkit.wait_for(lambda: testkit.read_archive(settings).num_rows >= len(expected_ids), 420), \
            job.tail()
        exp_users, exp_items = reference_features(world.pairs(), settings, world.genre_lookup)

        def features_done() -> bool:
            users, items = testkit.read_features(settings, sorted(exp_users), sorted(exp_items))
            return all(not mismatches(users[u], exp_users[u], 1e-5) for u in exp_users) and \
                all(not mismatches(items[i], exp_items[i], 1e-9) for i in exp_items)

        done = testkit.wait_for(features_done, 120)
        users, items = testkit.read_features(settings, sorted(exp_users), sorted(exp_items))
        bad = {u: m for u in exp_users if (m := mismatches(users[u], exp_users[u], 1e-5))}
        bad.update({i: m for i in exp_items if (m := mismatches(items[i], exp_items[i], 1e-9))})
        assert done and not bad, testkit.dump(bad)

        time.sleep(3)  # one more checkpoint: a duplicate would show up now
        ids = testkit.read_archive(settings).column("event_id").to_pylist()
        assert Counter(ids).most_common(1)[0][1] == 1, "an event was archived twice"
        assert set(ids) == expected_ids
        assert 0 < killed_with < len(expected_ids), "the kill did not happen mid-stream"
    finally:
        for j in jobs:
            j.kill()
        testkit.discard(settings)
