"""The speed layer under chaos: the job on the local MiniCluster (a process group to SIGKILL) or on the standalone
session cluster of `make flink-cluster` (its TaskManager and JobManager killed one at a time), plus what it wrote:
the archive, the dead-letter topic and the fresh features."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from hybridrec.config import Settings, with_section
from streaming import cluster as flink_cluster
from streaming.config import StreamingSettings, streaming_settings
from tests.support import streaming_kit as testkit


def job_settings(settings: Settings, **streaming: object) -> StreamingSettings:
    """The namespace's settings for the job: unbounded, its own consumer group, checkpoints under the lake."""
    defaults: dict[str, object] = {
        "bounded": False,
        "checkpoint_interval_ms": 5_000,
        "group_id": f"{settings.kafka.topics.interactions}.streaming",
    }
    return streaming_settings(settings, **{**defaults, **streaming})


def restore_point(settings: StreamingSettings) -> Path | None:
    from streaming.job import newest_saved_state

    return newest_saved_state(settings)


def restored(settings: StreamingSettings) -> StreamingSettings:
    """The same job restarted from its newest completed checkpoint (what a supervisor does after a crash)."""
    point = restore_point(settings)
    return with_section(settings, "streaming", restore_from=point)


# --- the session cluster ------------------------------------------------------------------------------------


def _pid_file(settings: StreamingSettings, daemon: str) -> Path:
    """flink-daemon.sh keeps ``flink-<user>-<daemon>.pid`` in FLINK_PID_DIR (``<run_dir>/flink``)."""
    return next((settings.paths.run_dir / "flink").glob(f"flink-*-{daemon}.pid"))


def _live_pids(path: Path) -> list[int]:
    pids = []
    for line in path.read_text().split():
        try:
            os.kill(int(line), 0)
            pids.append(int(line))
        except (ProcessLookupError, ValueError):
            continue
    return pids


def kill_daemon(settings: StreamingSettings, daemon: str) -> int:
    """SIGKILL the live ``taskexecutor`` or ``standalonesession`` of the session cluster; returns its pid."""
    (pid,) = _live_pids(_pid_file(settings, daemon))
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            os.kill(pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            return pid


def start_daemon(settings: StreamingSettings, daemon: str) -> None:
    script = {"taskexecutor": "taskmanager.sh", "standalonesession": "jobmanager.sh"}[daemon]
    subprocess.run(
        ["bash", str(flink_cluster.FLINK_HOME / "bin" / script), "start"],
        env=flink_cluster._env(settings),
        check=True,
        capture_output=True,
    )


def rest(settings: StreamingSettings, path: str) -> Any:
    with urllib.request.urlopen(f"{flink_cluster.rest_url(settings)}{path}", timeout=5) as r:
        return json.loads(r.read())


def running_jobs(settings: StreamingSettings) -> list[str]:
    try:
        return [j["id"] for j in rest(settings, "/jobs")["jobs"] if j["status"] == "RUNNING"]
    except OSError:
        return []


def job_running(settings: StreamingSettings, job_id: str) -> bool:
    """Every vertex of the job RUNNING (after a TaskManager loss the job is RESTARTING, then its tasks deploy)."""
    try:
        job = rest(settings, f"/jobs/{job_id}")
    except OSError:
        return False
    return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])


def submit_detached(settings: StreamingSettings, workdir: Path) -> str:
    """Submit the job to the session cluster (`make stream-submit`, detached); returns its id once it runs."""
    before = set(running_jobs(settings))
    settings_json = testkit.settings_file(settings, workdir / f"job-{time.monotonic_ns()}.json")
    # The Python client keeps waiting for the job's result even with -d (streaming.job.run blocks in
    # wait_or_stop_with_savepoint), so it runs beside the test; it ends when its job or cluster goes.
    exit_codes: list[int] = []
    threading.Thread(
        target=lambda: exit_codes.append(flink_cluster.submit(settings, settings_json, detached=True)),
        name="flink-run",
        daemon=True,
    ).start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        new = set(running_jobs(settings)) - before
        if new:
            return new.pop()
        assert not exit_codes, f"flink run exited {exit_codes[0]} before its job ran"
        time.sleep(1)
    raise AssertionError("the submitted job is not running after 600 s")


# --- what the job wrote ------------------------------------------------------------------------------------


def archive_ids(settings: StreamingSettings) -> list[str]:
    """Event ids of the whole archive: the job's hourly files and the monthly files batch compaction moved them
    to (committed files only; hidden in-progress ones are not part of it)."""
    import pyarrow.dataset as pads

    from batch.compact import compacted_dir

    hourly = testkit.read_archive(settings)
    # before the first commit the folders hold only hidden in-progress files: a dataset without columns
    ids = [str(i) for i in hourly.column("event_id").to_pylist()] if "event_id" in hourly.column_names else []
    root = compacted_dir(settings.paths.lake_dir)
    files = [str(f) for f in root.glob("event_month=*/*") if f.is_file() and not f.name.startswith((".", "_"))]
    if files:
        ids += [
            str(i)
            for i in pads.dataset(files, format="parquet").to_table(columns=["event_id"]).column("event_id").to_pylist()
        ]
    return ids


def dlq_records(settings: Settings) -> list[tuple[dict[str, str], bytes]]:
    """Every record of the dead-letter topic: its headers (reason, component, sha256, ...) and raw value."""
    topic = settings.kafka.topics.dlq
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"dlq-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    out: list[tuple[dict[str, str], bytes]] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        todo = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(1_000, timeout=0.5):
                if msg.error():
                    continue
                headers = {k: v.decode(errors="replace") for k, v in (msg.headers() or [])}
                out.append((headers, msg.value() or b""))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    todo.discard(msg.partition())
    finally:
        consumer.close()
    return out


def send_garbage(settings: Settings, n: int, tag: str) -> list[str]:
    """``n`` undecodable records into ``interactions`` from a foreign producer (no validation); returns their
    sha256, the key the job's dead letters carry."""
    import hashlib

    from confluent_kafka import Producer

    from hybridrec.kafka.producer import producer_config

    producer = Producer(producer_config(settings.kafka))
    sums = []
    for k in range(n):
        payload = b"\xff\xfe" + f"garbage {tag} {k} {time.time_ns()}".encode()
        producer.produce(settings.kafka.topics.interactions, payload, f"g{k}".encode())
        sums.append(hashlib.sha256(payload).hexdigest())
    assert producer.flush(60) == 0
    return sums
