"""The shared process and port checks (hybridrec/processes.py) on real processes and sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from hybridrec.processes import alive_pid_in, pid_alive, port_open


def test_a_zombie_is_dead_and_a_running_child_alive(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    pid_file = tmp_path / "child.pid"
    pid_file.write_text(f"{child.pid}\n")
    assert pid_alive(child.pid) and alive_pid_in(pid_file) == child.pid
    child.stdin.close()  # it exits; not reaped yet, so it is a zombie for a while
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    assert not pid_alive(child.pid) and alive_pid_in(pid_file) is None
    child.wait()
    assert not pid_alive(child.pid)


def test_a_pid_file_with_garbage_or_missing_is_no_process(tmp_path: Path) -> None:
    assert alive_pid_in(tmp_path / "absent.pid") is None
    (tmp_path / "garbage.pid").write_text("not a pid")
    assert alive_pid_in(tmp_path / "garbage.pid") is None


def test_port_open_sees_a_listener_and_its_absence() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_open("127.0.0.1", port)
    assert not port_open("127.0.0.1", port)
