"""Start, stop and inspect the single-node services hybridrec runs on locally: a KRaft Kafka broker and Redis.

Both listen on loopback and keep their data under ``paths.run_dir``; ports come from the shared config.
Every command is idempotent (``up`` twice leaves one running broker) and every failure says what to do.
On a cluster, point ``HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS`` and ``HYBRIDREC_REDIS__*`` at the real services
instead and do not run this.

    python deploy/local_services.py up|down|status [kafka|redis ...]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybridrec.config import Settings, get_settings

DEPLOY_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_S = 90.0


class ServiceError(RuntimeError):
    """A service could not be managed; the message says what the user should do."""


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    ports: tuple[int, ...]
    state_dir: Path
    start: Callable[[], subprocess.Popen[bytes]]
    ready: Callable[[], bool]
    log_file: Path
    min_free_mb: int

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _read_pid(service: Service) -> int | None:
    try:
        return int(service.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _who_listens(port: int) -> str:
    """Best-effort description of the process holding a port, for the error message."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid}: {' '.join(proc.cmdline())[:160]}"
    except Exception:
        pass
    return "an unknown process"


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(cmd: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )


# --- Kafka ---------------------------------------------------------------------------------------------

def _kafka_properties(settings: Settings, data_dir: Path) -> str:
    kafka = settings.kafka
    host, port, cport = kafka.broker_host, kafka.broker_port, kafka.controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={host}:{cport}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        f"advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={kafka.topics.partitions}",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Topics are created explicitly with their retention by `hybridrec topics create`.
        "auto.create.topics.enable=false",
        f"message.max.bytes={kafka.topics.max_message_bytes}",
        "",
    ])



def cluster_id() -> str:
    """A random KRaft cluster id: base64url of 16 random bytes, like Kafka's ``Uuid.randomUuid``, and like it never
    starting with "-" (one id in 64 would, and the storage tool then reads it as an option: "argument
    --cluster-id/-t: expected one argument")."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _kafka(settings: Settings) -> Service:
    state = settings.paths.run_dir / "kafka"
    libs = settings.paths.deps_dir / "kafka" / "libs"
    data_dir, logs_dir = state / "data", state / "logs"
    props = state / "server.properties"
    classpath = f"{libs}/*"

    def start() -> subprocess.Popen[bytes]:
        java = shutil.which("java")
        if java is None:
            raise ServiceError("Java 17+ is required for Kafka: install a JDK (apt-get install openjdk-17-jdk)")
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Kafka jars are missing in {libs}: run `make install` (or `make jars`)")
        state.mkdir(parents=True, exist_ok=True)
        props.write_text(_kafka_properties(settings, data_dir))
        jvm = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", f"-Dkafka.logs.dir={logs_dir}",
               f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'kafka' / 'log4j2.properties'}", "-cp", classpath]
        if not (data_dir / "meta.properties").exists():
            cid = cluster_id()
            fmt = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", "-t", cid, "-c", str(props), "--standalone"],
                capture_output=True, text=True,
            )
            if fmt.returncode != 0:
                raise ServiceError(f"formatting Kafka storage in {data_dir} failed:\n{fmt.stdout}{fmt.stderr}")
        return _spawn([*jvm, "kafka.Kafka", str(props)], logs_dir / "stdout.log")

    def ready() -> bool:
        from confluent_kafka.admin import AdminClient

        if not _port_open(settings.kafka.broker_host, settings.kafka.broker_port):
            return False
        try:
            admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers, "log_level": 0})
            md = admin.list_topics(timeout=2)
            return bool(md.brokers)
        except Exception:
            return False

    return Service("kafka", settings.kafka.broker_host,
                   (settings.kafka.broker_port, settings.kafka.controller_port),
                   state, start, ready, logs_dir / "server.log", settings.paths.min_free_disk_mb)


# --- Redis ---------------------------------------------------------------------------------------------

def _redis(settings: Settings) -> Service:
    state = settings.paths.run_dir / "redis"
    conf = state / "redis.conf"
    log_file = state / "redis.log"

    def start() -> subprocess.Popen[bytes]:
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError("redis-server is not installed: run `make install` "
                               "(it runs `apt-get install redis-server`)")
        (state / "data").mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join([
            f"bind {settings.redis.host}",
            f"port {settings.redis.port}",
            f"dir {state / 'data'}",
            f"logfile {log_file}",
            "daemonize no",
            "protected-mode yes",
            # Online features survive a restart; everysec bounds loss to one second of writes.
            "appendonly yes",
            "appendfsync everysec",
            "save ''",
            "",
        ]))
        return _spawn([server, str(conf)], state / "stdout.log")

    def ready() -> bool:
        import redis

        try:
            return bool(redis.Redis(host=settings.redis.host, port=settings.redis.port,
                                    socket_timeout=1).ping())
        except Exception:
            return False

    return Service("redis", settings.redis.host, (settings.redis.port,), state, start, ready, log_file,
                   settings.paths.min_free_disk_mb)


# --- commands ------------------------------------------------------------------------------------------

def up(service: Service) -> str:
    pid = _read_pid(service)
    if pid is not None and _pid_alive(pid):
        if _wait_ready(service, pid, timeout=READY_TIMEOUT_S):
            return f"{service.name}: already running (pid {pid})"
        raise ServiceError(f"{service.name}: pid {pid} is running but not answering; "
                           f"run `make down` then `make up`. Log:\n{_tail(service.log_file)}")
    stale = ""
    if pid is not None:
        service.pid_file.unlink(missing_ok=True)
        stale = f" (removed stale pid file of dead pid {pid})"
    for port in service.ports:
        if _port_open(service.host, port):
            raise ServiceError(
                f"{service.name}: port {port} on {service.host} is already in use by {_who_listens(port)}. "
                f"Stop that process, or move hybridrec to free ports (HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS, "
                f"HYBRIDREC_KAFKA__CONTROLLER_PORT, HYBRIDREC_REDIS__PORT)."
            )
    _check_free_space(service)
    proc = service.start()
    service.pid_file.write_text(str(proc.pid))
    if not _wait_ready(service, proc.pid, timeout=READY_TIMEOUT_S):
        _stop_pid(proc.pid)
        service.pid_file.unlink(missing_ok=True)
        raise ServiceError(f"{service.name}: did not become ready within {READY_TIMEOUT_S:.0f}s. "
                           f"Log {service.log_file}:\n{_tail(service.log_file)}")
    return f"{service.name}: started (pid {proc.pid}, {service.host}:{service.ports[0]}){stale}"


def _check_free_space(service: Service) -> None:
    """A Kafka broker whose log dir fills up shuts itself down; clients then only see "connection refused"."""
    service.state_dir.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(service.state_dir).free // 2**20
    if free_mb < service.min_free_mb:
        raise ServiceError(f"{service.name}: only {free_mb} MB free under {service.state_dir} (need "
                           f"{service.min_free_mb} MB). Free some space, or move the service state elsewhere "
                           f"(HYBRIDREC_PATHS__RUN_DIR; the floor is HYBRIDREC_PATHS__MIN_FREE_DISK_MB).")


def _wait_ready(service: Service, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return False
        if service.ready():
            return True
        time.sleep(0.3)
    return False


def _stop_pid(pid: int, grace_s: float = 30.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.2)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def down(service: Service) -> str:
    pid = _read_pid(service)
    if pid is None:
        return f"{service.name}: not running"
    if _pid_alive(pid):
        _stop_pid(pid)
        msg = f"{service.name}: stopped (pid {pid})"
    else:
        msg = f"{service.name}: not running (removed stale pid file of pid {pid})"
    service.pid_file.unlink(missing_ok=True)
    return msg


def status(service: Service) -> str:
    pid = _read_pid(service)
    where = f"{service.host}:{service.ports[0]}"
    if pid is None or not _pid_alive(pid):
        taken = [p for p in service.ports if _port_open(service.host, p)]
        extra = f"; port {taken[0]} is held by {_who_listens(taken[0])}" if taken else ""
        return f"{service.name}: stopped ({where}){extra}"
    return f"{service.name}: {'ready' if service.ready() else 'NOT READY'} (pid {pid}, {where})"


def services(settings: Settings) -> dict[str, Service]:
    return {"kafka": _kafka(settings), "redis": _redis(settings)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("names", nargs="*", metavar="SERVICE", help="kafka and/or redis (default: both)")
    args = parser.parse_args(argv)
    known = services(get_settings())
    names = args.names or list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown service(s) {unknown}; choose from {sorted(known)}")
    action = {"up": up, "down": down, "status": status}[args.command]
    failed = False
    for name in (reversed(names) if args.command == "down" else names):
        try:
            print(action(known[name]), flush=True)
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
