"""The whole chaos suite (`make chaos`, not in `make test`): the speed layer in the loop, so every row is also
checked end to end against the archive, the dead-letter topic and the fresh features.

One run under steady replay and ranker load; one fault at a time, each restarted at once as a supervisor would:
a Kafka broker of three, Redis, one of two rankers, the local job (restarted from its newest checkpoint), then
the job moved to the standalone session cluster (stop with savepoint, submit from it) and its TaskManager and
JobManager killed (after the JobManager the job is submitted again from its newest checkpoint: the cluster has no
HA), and the nightly batch killed in its features stage and run again.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hybridrec import catalog
from hybridrec.config import Settings, with_section
from hybridrec.datasets.model import Item
from hybridrec.feature_store import drop_online_rows
from hybridrec.registry import ModelRegistry
from hybridrec.replay import ReplaySummary
from hybridrec_pb.events_pb2 import InteractionEvent
from streaming import cluster as flink_cluster
from streaming.config import StreamingSettings
from tests.chaos import speed_layer as sl
from tests.support import chaos_harness as harness
from tests.support import serving_env as env
from tests.support import serving_kit as kit
from tests.support import streaming_kit as testkit

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(7200)]

EVENT_RATE = 100.0  # an hour of steady load at most (the stream below), enough for every fault
PAGE_RATE = 20.0
GARBAGE_PER_FAULT = 5


@pytest.fixture(autouse=True)
def _only_in_make_chaos(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--chaos") != "full":
        pytest.skip("the whole suite runs with `make chaos` (pytest --chaos full); make test runs test_chaos.py")


class Run(harness.FaultLog):
    """The loads, the parts and the faults of one chaos run."""

    def __init__(self, settings: Settings, tmp: Path) -> None:
        super().__init__(f"{EVENT_RATE:.0f} events/s, {PAGE_RATE:.0f} pages/s over 2 rankers")
        self.settings, self.tmp, self.logs = settings, tmp, tmp / "logs"


def _archive_has(job: StreamingSettings, ids: set[str]) -> bool:
    return ids <= set(sl.archive_ids(job))


def test_every_fault_under_load(namespace: Settings, tmp_path: Path, table: list[harness.Row]) -> None:
    testkit.build_jar()
    run = Run(namespace, tmp_path)
    settings = namespace
    job_cfg = sl.job_settings(settings)
    world = kit.world(n_users=400, n_items=200)
    now = int(time.time() * 1000)
    # Heavy users seeded for the rankers are u300-u399, none of the stream's u0-u299: a seeded row carries the
    # wall clock's timestamp, newer than the stream's event time, so the job could never overwrite it and the
    # end-of-run comparison found those 100 users "differing" (first full run, 2026-12-02).
    stream_users = 300
    env.seed_features(settings, world, {u: kit.heavy_user(world, now_ms=now) for u in world.user_ids[stream_users:]})
    env.publish_model(settings, world, tmp_path)
    # ~10 h of event time, replayed ten times faster than it happened
    stream = testkit.make_world(360_000, n_users=stream_users, n_items=200, seed=16, step_ms=200)
    # through the real publishing path: the catalog topic for the job and serving, the lake snapshot for batch
    catalog.publish(
        [Item(i, f"Title {i}", g, 2000) for i, g in stream.genres.items()], settings.kafka, settings.paths.lake_dir
    )
    ports = [harness.free_port() for _ in range(4)]
    rankers = [harness.start_ranker(settings, f"ranker-{k}", ports[k], ports[k + 2], run.logs) for k in range(2)]
    job = testkit.JobProcess(job_cfg, run.logs / "job")
    event_load = pages = None
    session_job: str | None = None
    on_session_cluster = False
    try:
        for r, port in zip(rankers, ports, strict=False):
            assert harness.wait_until(lambda port=port: harness.ranker_healthy(port), 300), r.tail()
        event_load = harness.EventLoad(settings, stream.events, EVENT_RATE).start()
        pages = harness.PageLoad(ports[:2], world.user_ids, PAGE_RATE).start()
        assert harness.wait_until(lambda: len(sl.archive_ids(job_cfg)) > 0, 600, every_s=2), job.tail()

        def caught_up_since(t_kill: float) -> bool:
            valid, _ = event_load.offered_between(0.0, t_kill)
            return _archive_has(job_cfg, set(valid))

        def garbage(tag: str) -> Callable[[], list[str]]:
            return lambda: sl.send_garbage(settings, GARBAGE_PER_FAULT, tag)

        # 1.-3. a Kafka broker of three; Redis (the job's writes fail and it restarts from its checkpoint); a ranker
        harness.kill_broker(run, settings, 300, while_down=garbage("broker"))
        harness.kill_redis(run, settings, pages, 120, while_down=garbage("redis"))
        harness.kill_ranker(run, rankers[0], ports[0], 300)

        # 4. the local job (client and MiniCluster JVM), restarted from its newest checkpoint
        with run.fault("Flink local job (MiniCluster)", "every event offered before the kill is archived") as f:
            job.kill()
            f.garbage = sl.send_garbage(settings, GARBAGE_PER_FAULT, "local-job")
            job = testkit.JobProcess(sl.restored(job_cfg), run.logs / "job")
            f.wait_recovered(lambda: caught_up_since(f.t0), 900, every_s=2)

        # the job moves to the session cluster: stop with a savepoint, submit from it
        job.proc.send_signal(signal.SIGTERM)
        assert job.wait(300) == 0, job.tail()
        found = re.search(r"^savepoint: (\S+)$", job.log.read_text(), re.M)
        assert found, job.tail()
        savepoint = Path(urlparse(found.group(1)).path)
        on_session_cluster = True
        flink_cluster.up(job_cfg, timeout_s=600)
        on_cluster = with_section(job_cfg, "streaming", restore_from=savepoint)
        session_job = sl.submit_detached(on_cluster, run.logs)

        # 5. the session cluster's TaskManager: Flink restarts the tasks when the new one registers
        tm_recovered = "job RUNNING and every event offered before the kill archived"
        with run.fault("Flink TaskManager (session cluster)", tm_recovered) as f:
            sl.kill_daemon(job_cfg, "taskexecutor")
            f.garbage = sl.send_garbage(settings, GARBAGE_PER_FAULT, "taskmanager")
            sl.start_daemon(job_cfg, "taskexecutor")
            f.wait_recovered(lambda: sl.job_running(job_cfg, session_job) and caught_up_since(f.t0), 900, 2)

        # 6. the session cluster's JobManager: without HA the job dies with it; submitted again from its checkpoint
        with run.fault(
            "Flink JobManager (session cluster, no HA)",
            "every event offered before the kill archived",
            "job resubmitted from its newest checkpoint",
        ) as f:
            sl.kill_daemon(job_cfg, "standalonesession")
            f.garbage = sl.send_garbage(settings, GARBAGE_PER_FAULT, "jobmanager")
            sl.start_daemon(job_cfg, "standalonesession")
            assert harness.wait_until(lambda: flink_cluster.is_up(job_cfg), 600, every_s=2)
            session_job = sl.submit_detached(sl.restored(job_cfg), run.logs)
            f.wait_recovered(lambda: caught_up_since(f.t0), 900, every_s=2)

        # 7. the nightly batch, killed in its features stage, then run again
        _batch_fault(run, settings, pages)

        pages.stop()
        summary = event_load.stop()
        assert summary.unacknowledged == 0 and summary.delivery_failures == 0, summary.render()
        _check_and_report(run, job_cfg, event_load, summary, pages, stream, table)
    finally:
        harness.shutdown(pages, event_load, *rankers)
        job.kill()
        if on_session_cluster:
            flink_cluster.down(job_cfg)
        drop_online_rows(settings)


def _batch_fault(run: Run, settings: Settings, pages: harness.PageLoad) -> None:
    registry = ModelRegistry(settings.paths.registry_root)
    before, pointer = [v.version for v in registry.list()], registry.current_version()
    batch = {"spark": {"shuffle_partitions": 2, "driver_memory": "1g"}, "als": {"iters": 5}, "ranker": {"epochs": 2}}
    as_of = time.strftime("%Y-%m-%d", time.gmtime())
    argv = [sys.executable, "-m", "hybridrec", "batch", "run", "--as-of", as_of]
    t0 = time.monotonic()
    proc = harness.Proc("batch", argv, harness.child_env(settings, batch=batch), run.logs)
    reached = harness.wait_until(lambda: "stage faiss:" in proc.log.read_text(errors="replace"), 1800, every_s=1)
    assert reached is not None and proc.alive(), proc.tail()
    time.sleep(2)  # inside batch_features: Spark writing the offline tables, or Feast materializing
    proc.kill()
    half = [v.version for v in registry.list()] != before or registry.current_version() != pointer
    notes = [f"killed in batch_features; registry after the kill: {'CHANGED' if half else 'unchanged'}"]
    rerun = harness.Proc("batch-rerun", argv, harness.child_env(settings, batch=batch), run.logs)
    assert rerun.proc.wait(1800) == 0, rerun.tail()
    version = registry.current()
    promoted = version is not None and version.version != pointer
    if promoted:
        feats = version.manifest.get("batch_features", {})
        notes.append(f"rerun promoted {version.version} after materializing {feats.get('rows')}")
    else:
        notes.append("rerun published without promotion (gates)")
    text = rerun.log.read_text(errors="replace")
    notes += [f"rerun swept {m.group(1)}" for m in re.finditer(r"'swept': (\{[^}]*\})", text)]
    row = harness.Row("nightly batch, killed mid-stage", run.load, recover_s=time.monotonic() - t0, notes=notes)
    row.lost = None
    assert not half, "a killed run changed the registry"
    run.record(row, t0)


def _check_and_report(
    run: Run,
    job_cfg: StreamingSettings,
    load: harness.EventLoad,
    summary: ReplaySummary,
    pages: harness.PageLoad,
    stream: testkit.World,
    table: list[harness.Row],
) -> None:
    settings = run.settings
    sent_valid = load.offered[: summary.accepted]
    sent_poisoned = set(load.poisoned[: summary.dead_lettered])
    sent_ids = set(sent_valid)
    events = [e for e in stream.events if e.event_id in sent_ids]
    sentinels = testkit.produce_sentinels(job_cfg, max(e.event_time_ms for e in events) + 7_200_000)
    expected = sent_ids | {e.event_id for e in sentinels}
    assert harness.wait_until(lambda: _archive_has(job_cfg, expected), 900, every_s=3), "archive incomplete"
    time.sleep(12)  # two more checkpoints: a duplicate would show now
    archived = sl.archive_ids(job_cfg)
    archive_counts = Counter(archived)
    dlq = sl.dlq_records(settings)
    dead_ids = Counter(InteractionEvent.FromString(v).event_id for h, v in dlq if h.get("component") == "chaos")
    dead_sums = Counter(h.get("sha256") for h, _ in dlq if h.get("component") == "flink")

    genres = testkit.World(events, stream.genres)
    n_users, n_items = len({e.user_id for e in events}), len({e.item_id for e in events})
    # Flink's watermark once the sentinels are read: their time less the out-of-orderness bound, less 1 ms.
    watermark = sentinels[0].event_time_ms - job_cfg.streaming.max_out_of_orderness_ms - 1

    def features_match() -> dict[str, list[str]]:
        return testkit.feature_mismatches(job_cfg, genres.pairs(), genres.genre_lookup, watermark_ms=watermark)

    harness.wait_until(lambda: not features_match(), 300, every_s=5)
    bad_features = features_match()

    for row, t0, t1, garbage in run.windows:
        valid, poisoned = load.offered_between(t0, t1)
        valid = [i for i in valid if i in sent_ids]
        row.lost, row.duplicated = harness.exactly_once(valid, archive_counts)
        poisoned = [i for i in poisoned if i in sent_poisoned]
        dlq_missing = [i for i in poisoned if not dead_ids[i]] + [s for s in garbage if not dead_sums[s]]
        dlq_copies = sum(dead_ids[i] - 1 for i in poisoned if dead_ids[i] > 1) + sum(
            dead_sums[s] - 1 for s in garbage if dead_sums[s] > 1
        )
        row.lost += len(dlq_missing)
        row.answered, row.failed, row.degraded, reasons = harness.summarize_answers(pages.between(t0, t1))
        row.notes.insert(
            0,
            f"{len(valid):,} events, {len(poisoned)} + {len(garbage)} dead letters in the window"
            + (f" ({dlq_copies} re-sent by the at-least-once DLQ sink)" if dlq_copies else ""),
        )
        if reasons:
            row.notes.append("answers: " + ", ".join(f"{k} ×{v}" for k, v in reasons.most_common(4)))
        table.append(row)
    end = harness.Row(
        "end of run: features vs reference",
        run.load,
        notes=[
            f"{n_users} users, {n_items} items: "
            + (
                "fresh features = reference"
                if not bad_features
                else f"{len(bad_features)} DIFFER: " + testkit.dump(dict(list(bad_features.items())[:3]))
            )
        ],
    )
    lost, dup = harness.exactly_once(sorted(expected), archived)
    end.lost, end.duplicated = lost, dup
    end.answered, end.failed, end.degraded, _ = harness.summarize_answers(pages.answers)
    table.append(end)
    assert (lost, dup) == (0, 0), f"archive != input exactly once: {lost} lost, {dup} duplicated"
    assert end.failed == 0, f"{end.failed} GetHomepage calls failed; {harness.when_failed(pages.answers, run)}"
    assert not bad_features, testkit.dump(bad_features)
    assert all(r.recover_s is not None for r, *_ in run.windows), "a fault did not recover"
