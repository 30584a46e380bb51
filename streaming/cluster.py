"""A standalone Flink session cluster started from the pyflink distribution in the venv, and job submission
with ``flink run -py``. `make flink-cluster` / `make flink-cluster-down` / `make stream-submit` call this.

The cluster gets its own conf dir (``<run_dir>/flink/conf``) so nothing in the venv is edited. The job runs
entirely in the JVM; only the client that ``flink run -py`` starts is Python, and it imports the project, so the
environment carries the venv and the project on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyflink

from hybridrec.config import PROJECT_ROOT
from streaming.config import StreamingSettings

FLINK_HOME = Path(pyflink.__file__).resolve().parent


def python_path() -> str:
    """What the ``flink run -py`` client needs on sys.path: the project and the venv."""
    return os.pathsep.join([str(PROJECT_ROOT), *site.getsitepackages()])


def _dirs(settings: StreamingSettings) -> tuple[Path, Path]:
    root = settings.paths.run_dir / "flink"
    return root / "conf", root / "log"


def _lib_dir(settings: StreamingSettings) -> Path:
    """The distribution's lib/ plus flink-python from opt/ (the cluster must load Python operators), as links."""
    lib = settings.paths.run_dir / "flink" / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for jar in [*(FLINK_HOME / "lib").glob("*.jar"), *(FLINK_HOME / "opt").glob("flink-python-*.jar")]:
        link = lib / jar.name
        if not link.exists():
            link.symlink_to(jar)
    return lib


def write_conf(settings: StreamingSettings) -> Path:
    cfg = settings.streaming
    conf_dir, log_dir = _dirs(settings)
    conf_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties", "logback.xml"):
        shutil.copy(FLINK_HOME / "conf" / name, conf_dir / name)
    java_opts = (FLINK_HOME / "conf" / "config.yaml").read_text().split("all: ", 1)[1].splitlines()[0].strip()
    tmp_dir = (conf_dir.parent / "tmp").resolve()  # not /tmp: what a killed process leaves stays with the cluster
    tmp_dir.mkdir(exist_ok=True)
    (conf_dir / "config.yaml").write_text(f"""# written by streaming/cluster.py from StreamingConfig
# (edit the config, not this file)
env.java.opts.all: {java_opts} -Djava.io.tmpdir={tmp_dir}
io.tmp.dirs: {tmp_dir}
jobmanager.bind-host: {cfg.cluster_host}
jobmanager.rpc.address: {cfg.cluster_host}
jobmanager.rpc.port: {cfg.cluster_rpc_port}
jobmanager.memory.process.size: {cfg.cluster_jobmanager_memory}
taskmanager.bind-host: {cfg.cluster_host}
taskmanager.host: {cfg.cluster_host}
taskmanager.memory.process.size: {cfg.cluster_taskmanager_memory}
taskmanager.numberOfTaskSlots: {cfg.cluster_task_slots}
rest.address: {cfg.cluster_host}
rest.bind-address: {cfg.cluster_host}
rest.port: {cfg.cluster_rest_port}
python.client.executable: {sys.executable}
""")
    return conf_dir


def _env(settings: StreamingSettings) -> dict[str, str]:
    conf_dir, log_dir = _dirs(settings)
    # Importing feast points prometheus_client at a temporary directory that dies with this process; a
    # cluster started from here must not inherit it.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC")}
    return {
        **inherited,
        "FLINK_HOME": str(FLINK_HOME),
        "FLINK_CONF_DIR": str(conf_dir),
        "FLINK_LOG_DIR": str(log_dir),
        "FLINK_PID_DIR": str(conf_dir.parent),
        "FLINK_LIB_DIR": str(_lib_dir(settings)),
        "PYTHONPATH": python_path(),
    }


def rest_url(settings: StreamingSettings) -> str:
    return f"http://{settings.streaming.cluster_host}:{settings.streaming.cluster_rest_port}"


def is_up(settings: StreamingSettings) -> bool:
    try:
        with urllib.request.urlopen(f"{rest_url(settings)}/taskmanagers", timeout=2) as r:
            return b'"taskmanagers":[{' in r.read()
    except OSError:
        return False


def up(settings: StreamingSettings, timeout_s: float = 120) -> str:
    """Start a JobManager and one TaskManager (idempotent); wait until the TaskManager has registered."""
    if is_up(settings):
        return f"flink cluster already up at {rest_url(settings)}"
    write_conf(settings)
    env = _env(settings)
    for script in ("jobmanager.sh", "taskmanager.sh"):
        subprocess.run(["bash", str(FLINK_HOME / "bin" / script), "start"], env=env, check=True, capture_output=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_up(settings):
            return f"flink cluster up at {rest_url(settings)}"
        time.sleep(1)
    raise RuntimeError(f"flink cluster did not come up in {timeout_s:.0f}s; logs in {_dirs(settings)[1]}")


def down(settings: StreamingSettings) -> str:
    env = _env(settings)
    for script in ("taskmanager.sh", "jobmanager.sh"):
        subprocess.run(["bash", str(FLINK_HOME / "bin" / script), "stop"], env=env, capture_output=True)
    return "flink cluster stopped"


def submit(settings: StreamingSettings, settings_json: Path, detached: bool = False) -> int:
    """`flink run -py streaming/main.py run --settings-json ...` against the session cluster (blocks unless
    detached); returns the exit code of the client.

    ``streaming.rest_port`` is the local MiniCluster's REST port; under `flink run` the job's configuration would
    redirect the client from the session cluster to it ("Connection refused"), so the submitted settings drop it."""
    import json

    from hybridrec.config import PROJECT_ROOT

    raw = json.loads(settings_json.read_text())
    if raw.get("streaming", {}).get("rest_port") is not None:
        raw["streaming"]["rest_port"] = None
        settings_json = settings_json.with_name(f"{settings_json.stem}.cluster.json")
        settings_json.write_text(json.dumps(raw))

    cmd = [
        "bash",
        str(FLINK_HOME / "bin" / "flink"),
        "run",
        "-m",
        f"{settings.streaming.cluster_host}:{settings.streaming.cluster_rest_port}",
        *(["-d"] if detached else []),
        "-pyexec",
        sys.executable,
        "-pyclientexec",
        sys.executable,
        "-py",
        str(PROJECT_ROOT / "streaming" / "main.py"),
        "run",
        "--settings-json",
        str(settings_json),
    ]
    return subprocess.run(cmd, env=_env(settings), cwd=PROJECT_ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streaming.cluster", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status", "submit"])
    parser.add_argument("--settings-json", type=Path)
    args = parser.parse_args(argv)
    settings = (
        StreamingSettings(**__import__("json").loads(args.settings_json.read_text()))
        if args.settings_json
        else StreamingSettings()
    )
    if args.action == "up":
        print(up(settings))
    elif args.action == "down":
        print(down(settings))
    elif args.action == "status":
        print("up" if is_up(settings) else "down", rest_url(settings))
    else:
        if args.settings_json is None:
            path = settings.paths.run_dir / "flink" / "job-settings.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(settings.model_dump_json())
            args.settings_json = path
        return submit(settings, args.settings_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
