"""`make up/down/status` behaviour: idempotent, and every failure says what to do.

These start a second, throw-away Redis on free ports with its own run directory, so they never disturb
the services the rest of the suite uses. Kafka's own start is exercised by every integration test.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridrec.config import PROJECT_ROOT, Settings, with_section
from tests.helpers import free_port, load_local_services

pytestmark = pytest.mark.integration

local_services = load_local_services()


@pytest.fixture
def scratch(services: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = with_section(with_section(services, "paths", run_dir=tmp_path / "run"), "redis", port=free_port())
    yield settings
    local_services.down(local_services.services(settings)["redis"])


def test_up_is_idempotent_and_down_stops(scratch: Settings) -> None:
    redis = local_services.services(scratch)["redis"]
    assert "started" in local_services.up(redis)
    pid = int(redis.pid_file.read_text())
    assert local_services.up(redis) == f"redis: already running (pid {pid})"
    assert "ready" in local_services.status(redis)
    assert "stopped" in local_services.down(redis)
    assert not local_services.pid_alive(pid)
    assert "stopped" in local_services.status(redis)
    assert local_services.down(redis) == "redis: not running"


def test_stale_pid_file_is_cleaned_up(scratch: Settings) -> None:
    redis = local_services.services(scratch)["redis"]
    dead = subprocess.Popen(["true"])
    dead.wait()
    redis.state_dir.mkdir(parents=True, exist_ok=True)
    redis.pid_file.write_text(str(dead.pid))
    assert f"removed stale pid file of dead pid {dead.pid}" in local_services.up(redis)


def test_taken_port_names_the_holder_and_the_fix(scratch: Settings) -> None:
    redis = local_services.services(scratch)["redis"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", scratch.redis.port))
        holder.listen()
        with pytest.raises(local_services.ServiceError) as info:
            local_services.up(redis)
    message = str(info.value)
    assert f"port {scratch.redis.port}" in message and "HYBRIDREC_REDIS__PORT" in message
    assert "python" in message, "the message should name the process holding the port"


def test_too_little_free_disk_refuses_to_start_and_says_why(scratch: Settings) -> None:
    no_room = with_section(scratch, "paths", min_free_disk_mb=2**40)  # more than any disk has
    redis = local_services.services(no_room)["redis"]
    with pytest.raises(local_services.ServiceError, match=r"MB free under .*HYBRIDREC_PATHS__MIN_FREE_DISK_MB"):
        local_services.up(redis)
    assert not redis.pid_file.exists()


def test_missing_java_says_what_to_install(scratch: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = local_services.services(scratch)["kafka"]
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(local_services.ServiceError, match="Java 17"):
        kafka.start()


def test_make_status_reports_the_running_services(services: Settings) -> None:
    out = subprocess.run(
        ["make", "--no-print-directory", "status"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "kafka: ready" in out and "redis: ready" in out
