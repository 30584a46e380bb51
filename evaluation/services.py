"""The deployables as child processes of the demo, and the waits that tell when each has done its part.

Each child gets the demo's namespace (HYBRIDREC_* variables: its own topics, lake, registry, Feast project)
and writes its log under the run directory; a failure prints the log's tail instead of a traceback soup.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads

from hybridrec.config import PROJECT_ROOT, Settings
from hybridrec.contract import ARCHIVE_SUBDIR

PY = sys.executable
HYBRIDREC = [PY, "-m", "hybridrec"]


class ServiceFailed(RuntimeError):
    """A child process died or did not get ready in time; the message carries its log's tail."""


class Child:
    """A child process in its own process group (a Flink MiniCluster JVM dies with it)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("ab")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=PROJECT_ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise ServiceFailed(f"{self.name} exited with {self.proc.returncode}; log {self.log}:\n{self.tail()}")

    def tail(self, n: int = 25) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(x for x in lines if not x.lstrip().startswith("at "))[-n * 200 :] if lines else ""

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the group, SIGKILL what is left after the grace period."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self._out.close()


def require_running(settings: Settings) -> None:
    """Kafka's brokers and Redis answer, or :class:`ServiceFailed` says which did not and what to run (the run's
    first contact with them; a broker that was down used to surface as a KafkaException traceback)."""
    from hybridrec.processes import port_open

    brokers = [s.strip().rsplit(":", 1) for s in settings.kafka.bootstrap_servers.split(",")]
    wanted = [("Kafka", host, int(port)) for host, port in brokers] + [
        ("Redis", settings.redis.host, settings.redis.port)
    ]
    down = [f"{name} at {host}:{port}" for name, host, port in wanted if not port_open(host, port, 2.0)]
    if down:
        raise ServiceFailed(
            f"{' and '.join(down)} not reachable: start the local services with `make up` (or set "
            "HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS / HYBRIDREC_REDIS__HOST to yours)"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stream_job(env: dict[str, str], log_dir: Path) -> Child:
    """The Flink job; its JVM log goes to ``log_dir/flink`` (pyflink's default is one file inside the venv that
    every local job of the venv overwrites, so a crashed job's log would be gone by the next start)."""
    (log_dir / "flink").mkdir(parents=True, exist_ok=True)
    return Child(
        "flink-job", [PY, "-m", "streaming.main", "run"], {**env, "FLINK_LOG_DIR": str(log_dir / "flink")}, log_dir
    )


def start_ranker(env: dict[str, str], log_dir: Path, port: int) -> Child:
    return Child("ranker", [PY, "-m", "serving.main", "--port", str(port)], env, log_dir)


def run_batch(
    env: dict[str, str], log_dir: Path, *, as_of: str, window_days: int, report: Path, on_line: Callable[[str], None]
) -> int:
    """`hybridrec batch run`, its log streamed line by line to ``on_line`` (and kept in the log file)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    argv = [*HYBRIDREC, "batch", "run", "--as-of", as_of, "--window-days", str(window_days), "--report", str(report)]
    with (
        (log_dir / "batch.log").open("a") as log,
        subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            on_line(line.rstrip())
        return proc.wait()


def consumed(settings: Settings, group_id: str) -> tuple[int, int]:
    """(offsets the Flink job committed for its group, end offsets) over the interactions topic.

    The job commits on each completed checkpoint, so this lags the job by at most one checkpoint interval."""
    from confluent_kafka import Consumer, TopicPartition

    topic = settings.kafka.topics.interactions
    c = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": group_id, "enable.auto.commit": False}
    )
    try:
        parts = [TopicPartition(topic, p) for p in range(settings.kafka.topics.partitions)]
        done = sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=10))
        end = sum(c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
        return done, end
    finally:
        c.close()


def archive_event_ids(settings: Settings) -> pa.ChunkedArray:
    """event_id of every committed archive row: the Flink job's hourly tree and whatever the batch layer has
    compacted out of it (``<lake>/events*``; in-progress files are hidden and not read)."""
    trees = sorted(p for p in settings.paths.lake_dir.glob(f"{ARCHIVE_SUBDIR}*") if p.is_dir())
    datasets = [d for d in (pads.dataset(t, format="parquet") for t in trees) if d.files]  # none committed yet
    chunks = [c for d in datasets for c in d.to_table(columns=["event_id"]).column(0).chunks]
    return pa.chunked_array(chunks, pa.string())


def archived(settings: Settings) -> int:
    """Events committed to the archive."""
    return len(archive_event_ids(settings))


def wait_until(
    what: str, predicate: Callable[[], bool], timeout_s: float, children: Sequence[Child] = (), every_s: float = 1.0
) -> None:
    """Poll ``predicate``; fail with the children's logs when one dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in children:
            child.check()
        if predicate():
            return
        time.sleep(every_s)
    logs = "\n".join(f"--- {c.name} ({c.log}):\n{c.tail()}" for c in children)
    raise ServiceFailed(f"timed out after {timeout_s:.0f}s waiting for {what}\n{logs}")
