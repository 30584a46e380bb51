"""A local Spark standalone cluster (one master, one worker) started from the pyspark distribution.

    python -m batch.cluster up|down|status

Idempotent like ``deploy/local_services.py``: ``up`` twice leaves one master and one worker. State (pid files,
logs, worker scratch) lives under ``<run_dir>/spark``; host, ports, cores and memory come from
``BatchConfig.spark``. On a real cluster, point ``--master`` at it instead and do not run this.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyspark

from batch.config import SparkConfig, load_batch_config
from hybridrec.config import get_settings
from hybridrec.processes import alive_pid_in, port_open

SPARK_HOME = Path(pyspark.__file__).resolve().parent


def _state_dir() -> Path:
    d = get_settings().paths.run_dir / "spark"
    d.mkdir(parents=True, exist_ok=True)
    return d


def master_url(cfg: SparkConfig) -> str:
    return f"spark://{cfg.cluster_host}:{cfg.cluster_port}"


def _start(name: str, args: list[str], env: dict[str, str]) -> None:
    state = _state_dir()
    pid_file = state / f"{name}.pid"
    if alive_pid_in(pid_file):
        print(f"{name}: already running (pid {pid_file.read_text()})")
        return
    log = open(state / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [str(SPARK_HOME / "bin" / "spark-class"), *args], stdout=log, stderr=log, env=env, start_new_session=True
    )
    pid_file.write_text(str(proc.pid))
    print(f"{name}: started pid {proc.pid}, log {state / f'{name}.log'}")


def up(cfg: SparkConfig) -> None:
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(_state_dir() / "work"),
        "SPARK_LOG_DIR": str(_state_dir()),
    }
    _start(
        "master",
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            cfg.cluster_host,
            "--port",
            str(cfg.cluster_port),
            "--webui-port",
            str(cfg.cluster_webui_port),
        ],
        env,
    )
    deadline = time.monotonic() + 60
    while not port_open(cfg.cluster_host, cfg.cluster_port):
        if time.monotonic() > deadline:
            raise SystemExit(f"master did not open {master_url(cfg)} within 60 s; see {_state_dir()}/master.log")
        time.sleep(0.5)
    _start(
        "worker",
        [
            "org.apache.spark.deploy.worker.Worker",
            master_url(cfg),
            "--host",
            cfg.cluster_host,
            "--cores",
            str(cfg.worker_cores),
            "--memory",
            cfg.worker_memory,
            "--webui-port",
            str(cfg.cluster_webui_port + 1),
        ],
        env,
    )
    print(f"master: {master_url(cfg)}  (UI http://{cfg.cluster_host}:{cfg.cluster_webui_port})")


def down() -> None:
    for name in ("worker", "master"):
        pid_file = _state_dir() / f"{name}.pid"
        pid = alive_pid_in(pid_file)
        if pid is None:
            print(f"{name}: not running")
        else:
            os.kill(pid, signal.SIGTERM)
            print(f"{name}: stopped pid {pid}")
        pid_file.unlink(missing_ok=True)


def status(cfg: SparkConfig) -> int:
    ok = True
    for name in ("master", "worker"):
        pid = alive_pid_in(_state_dir() / f"{name}.pid")
        print(f"{name}: {'running pid ' + str(pid) if pid else 'stopped'}")
        ok &= pid is not None
    print(f"{master_url(cfg)}: {'open' if port_open(cfg.cluster_host, cfg.cluster_port) else 'closed'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m batch.cluster")
    p.add_argument("action", choices=["up", "down", "status"])
    args = p.parse_args(argv)
    cfg = load_batch_config().spark
    if args.action == "up":
        up(cfg)
    elif args.action == "down":
        down()
    else:
        return status(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
