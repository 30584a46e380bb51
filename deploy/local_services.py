"""Start, stop and inspect the services hybridrec runs on locally: a KRaft Kafka broker and Redis (`make up`),
and a three-node KRaft cluster for replication and broker failures (`make kafka-cluster`).

All listen on loopback and keep their data under ``paths.run_dir``; ports come from the shared config
(``kafka``, ``redis``, ``kafka.local_cluster``). Every command is idempotent (``up`` twice leaves one running
broker) and every failure says what to do. On a real cluster, point ``HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS`` and
``HYBRIDREC_REDIS__*`` at the real services instead and do not run this.

    python deploy/local_services.py up|down|status [kafka|redis|kafka-cluster|kafka-N ...]
    python deploy/local_services.py cluster-env      # the HYBRIDREC_* variables that point at the cluster
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hybridrec.config import Settings, get_settings
from hybridrec.processes import pid_alive, port_open

DEPLOY_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_S = 90.0  # without progress: a start whose log has not grown for this long has failed
READY_CAP_S = 900.0  # with progress: on a machine loaded ×20, a JVM takes minutes to start


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
    """The log's last lines, after its first errors: a node that fails to join logs the cause once, then
    minutes of retries (or, once stopped, its shutdown) would push the cause out of a plain tail."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    first_errors = [line for line in text[:-lines] if " ERROR " in line or " FATAL " in line][:3]
    return "\n".join([*first_errors, *(["[…]"] if first_errors else []), *text[-lines:]])


def _spawn(cmd: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )


# --- Kafka ---------------------------------------------------------------------------------------------


def _kafka_properties(settings: Settings, data_dir: Path) -> str:
    kafka = settings.kafka
    host, port, cport = kafka.broker_host, kafka.broker_port, kafka.controller_port
    return _node_properties(
        1,
        host,
        port,
        cport,
        f"controller.quorum.bootstrap.servers={host}:{cport}",
        data_dir,
        kafka.topics.partitions,
        kafka.topics.max_message_bytes,
        replicas=1,
    )


def _node_properties(
    node_id: int,
    host: str,
    port: int,
    cport: int,
    quorum: str,
    data_dir: Path,
    partitions: int,
    max_message_bytes: int,
    replicas: int,
    extra: tuple[str, ...] = (),
) -> str:
    """One KRaft node that is both broker and controller; ``replicas`` sizes Kafka's internal topics."""
    min_isr = min(2, replicas)
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            quorum,
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            f"advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={partitions}",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={replicas}",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created explicitly with their retention by `hybridrec topics create`.
            "auto.create.topics.enable=false",
            f"message.max.bytes={max_message_bytes}",
            *extra,
            "",
        ]
    )


def cluster_id() -> str:
    """A random KRaft cluster id: base64url of 16 random bytes, like Kafka's ``Uuid.randomUuid``, and like it never
    starting with "-" (one id in 64 would, and the storage tool then reads it as an option: "argument
    --cluster-id/-t: expected one argument")."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _kafka_node(
    settings: Settings,
    name: str,
    state: Path,
    host: str,
    port: int,
    cport: int,
    properties: Callable[[Path], str],
    format_args: list[str],
    cluster_id_file: Path | None,
    heap: str,
    expect_node: int,
    jvm_flags: tuple[str, ...] = (),
) -> Service:
    """A KRaft node under ``state``: formatted on its first start (with the cluster's shared id when
    ``cluster_id_file`` is given), ready once it answers metadata requests as broker ``expect_node``."""
    libs = settings.paths.deps_dir / "kafka" / "libs"
    data_dir, logs_dir = state / "data", state / "logs"
    props = state / "server.properties"

    def start() -> subprocess.Popen[bytes]:
        java = shutil.which("java")
        if java is None:
            raise ServiceError("Java 17+ is required for Kafka: install a JDK (apt-get install openjdk-17-jdk)")
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Kafka jars are missing in {libs}: run `make install` (or `make jars`)")
        state.mkdir(parents=True, exist_ok=True)
        props.write_text(properties(data_dir))
        jvm = [
            java,
            "-Xms256m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            *jvm_flags,
            f"-Dkafka.logs.dir={logs_dir}",
            f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'kafka' / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]
        meta = data_dir / "meta.properties"
        if meta.exists() and cluster_id_file is not None:
            _check_cluster_id(meta, cluster_id_file)
        if not meta.exists():
            cid = _shared_cluster_id(cluster_id_file) if cluster_id_file is not None else cluster_id()
            fmt = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", "-t", cid, "-c", str(props), *format_args],
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise ServiceError(f"formatting Kafka storage in {data_dir} failed:\n{fmt.stdout}{fmt.stderr}")
        return _spawn([*jvm, "kafka.Kafka", str(props)], logs_dir / "stdout.log")

    def ready() -> bool:
        from confluent_kafka.admin import AdminClient

        if not port_open(host, port):
            return False
        try:
            admin = AdminClient({"bootstrap.servers": f"{host}:{port}", "log_level": 0})
            return expect_node in admin.list_topics(timeout=2).brokers
        except Exception:
            return False

    return Service(
        name, host, (port, cport), state, start, ready, logs_dir / "server.log", settings.paths.min_free_disk_mb
    )


def _shared_cluster_id(path: Path, proposal: str | None = None) -> str:
    """Every node of a cluster is formatted with the same id, written once beside the nodes. The nodes are
    formatted in parallel, so the file appears atomically (a complete temporary file hard-linked into place):
    a node never reads a half-written id, and when two write at once the first link wins for all of them.
    ``proposal`` is the id to write when there is none yet (an already formatted node's), else a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        candidate = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        candidate.write_text(proposal or cluster_id())
        with contextlib.suppress(FileExistsError):
            os.link(candidate, path)
        candidate.unlink()
    return path.read_text().strip()


def _check_cluster_id(meta: Path, id_file: Path) -> None:
    """A node formatted with another id than its cluster's never joins the quorum (INCONSISTENT_CLUSTER_ID,
    retried forever): say so at start instead. Without an id file yet (removed by hand), the formatted node's id
    becomes the cluster's, rather than a new random one that would refuse every existing node."""
    found = next(
        (line.partition("=")[2].strip() for line in meta.read_text().splitlines() if line.startswith("cluster.id=")), ""
    )
    expected = _shared_cluster_id(id_file, proposal=found or None)
    if found != expected:
        raise ServiceError(
            f"{meta} holds cluster id {found!r}, but this cluster's id is {expected!r} "
            f"({id_file}): its storage belongs to another cluster. "
            f"Run `make kafka-cluster-down`, remove {id_file.parent} and start again."
        )


def _kafka(settings: Settings) -> Service:
    k = settings.kafka
    return _kafka_node(
        settings,
        "kafka",
        settings.paths.run_dir / "kafka",
        k.broker_host,
        k.broker_port,
        k.controller_port,
        lambda data: _kafka_properties(settings, data),
        ["--standalone"],
        None,
        "1g",
        expect_node=1,
    )


# Three JVMs on a shared laptop-class machine: the quorum's default 1-2 s timeouts made elections churn for
# minutes when requests between starved JVMs took 3-4 s (seen at load 30 on 2 cores). A killed controller is
# replaced after fetch.timeout; brokers are still fenced after the default broker.session.timeout (9 s).
_CLUSTER_QUORUM = (
    "controller.quorum.request.timeout.ms=10000",
    "controller.quorum.election.timeout.ms=5000",
    "controller.quorum.fetch.timeout.ms=10000",
)
# The C1 compiler only: a fraction of the start-up CPU, and these brokers carry test loads, not production ones.
_CLUSTER_JVM = ("-XX:TieredStopAtLevel=1",)


def kafka_cluster(settings: Settings) -> list[Service]:
    """The nodes of `make kafka-cluster` (``kafka-1`` …), a static controller quorum of all of them."""
    c = settings.kafka.local_cluster
    root = settings.paths.run_dir / "kafka-cluster"
    voters = ",".join(f"{n}@{c.host}:{cport}" for n, cport in enumerate(c.controller_ports, start=1))
    nodes = []
    for n, (port, cport) in enumerate(zip(c.broker_ports, c.controller_ports, strict=True), start=1):

        def props(data: Path, n: int = n, port: int = port, cport: int = cport) -> str:
            return _node_properties(
                n,
                c.host,
                port,
                cport,
                f"controller.quorum.voters={voters}",
                data,
                settings.kafka.topics.partitions,
                settings.kafka.topics.max_message_bytes,
                replicas=c.replication_factor,
                extra=_CLUSTER_QUORUM,
            )

        nodes.append(
            _kafka_node(
                settings,
                f"kafka-{n}",
                root / f"node-{n}",
                c.host,
                port,
                cport,
                props,
                [],
                root / "cluster.id",
                c.heap,
                expect_node=n,
                jvm_flags=_CLUSTER_JVM,
            )
        )
    return nodes


# --- Redis ---------------------------------------------------------------------------------------------


def _redis(settings: Settings) -> Service:
    state = settings.paths.run_dir / "redis"
    conf = state / "redis.conf"
    log_file = state / "redis.log"

    def start() -> subprocess.Popen[bytes]:
        server = shutil.which("redis-server")
        if server is None:
            raise ServiceError(
                "redis-server is not installed: run `make install` (it runs `apt-get install redis-server`)"
            )
        (state / "data").mkdir(parents=True, exist_ok=True)
        conf.write_text(
            "\n".join(
                [
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
                ]
            )
        )
        return _spawn([server, str(conf)], state / "stdout.log")

    def ready() -> bool:
        import redis

        try:
            return bool(redis.Redis(host=settings.redis.host, port=settings.redis.port, socket_timeout=1).ping())
        except Exception:
            return False

    return Service(
        "redis",
        settings.redis.host,
        (settings.redis.port,),
        state,
        start,
        ready,
        log_file,
        settings.paths.min_free_disk_mb,
    )


# --- commands ------------------------------------------------------------------------------------------


def up(service: Service) -> str:
    return up_together([service])[0]


def up_together(group: list[Service]) -> list[str]:
    """Start every service of ``group`` that is not running, then wait for all of them: the nodes of a cluster
    get ready only together (a controller quorum needs a majority of its voters), so they are formatted and
    launched in parallel, and when one does not get ready, those launched now are stopped again."""
    running: list[tuple[Service, int]] = []
    to_start: list[tuple[Service, str]] = []
    for service in group:
        pid = _read_pid(service)
        if pid is not None and pid_alive(pid):
            running.append((service, pid))
            continue
        stale = ""
        if pid is not None:
            service.pid_file.unlink(missing_ok=True)
            stale = f" (removed stale pid file of dead pid {pid})"
        for port in service.ports:
            if port_open(service.host, port):
                raise ServiceError(
                    f"{service.name}: port {port} on {service.host} is already in use by {_who_listens(port)}. "
                    f"Stop that process, or move hybridrec to free ports (HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS, "
                    f"HYBRIDREC_KAFKA__CONTROLLER_PORT, HYBRIDREC_REDIS__PORT, HYBRIDREC_KAFKA__LOCAL_CLUSTER__*)."
                )
        _check_free_space(service)
        to_start.append((service, stale))
    with ThreadPoolExecutor(max_workers=max(1, len(to_start))) as pool:
        futures = [pool.submit(service.start) for service, _ in to_start]
    launched = [
        (service, f.result().pid, stale)
        for (service, stale), f in zip(to_start, futures, strict=True)
        if f.exception() is None
    ]
    for service, pid, _ in launched:
        service.pid_file.write_text(str(pid))
    failure = next((f.exception() for f in futures if f.exception() is not None), None)
    if failure is not None:  # e.g. one node's storage could not be formatted: none of the group stays half up
        for service, pid, _ in launched:
            _stop_pid(pid)
            service.pid_file.unlink(missing_ok=True)
        raise failure
    messages = []
    for service, pid in running:
        if not _wait_ready(service, pid, timeout=READY_TIMEOUT_S):
            raise ServiceError(
                f"{service.name}: pid {pid} is running but not answering; "
                f"run `make down` then `make up`. Log:\n{_tail(service.log_file)}"
            )
        messages.append(f"{service.name}: already running (pid {pid})")
    for service, pid, stale in launched:
        if not _wait_ready(service, pid, timeout=READY_TIMEOUT_S):
            log = _tail(service.log_file)  # before the stop below appends the shutdown to it
            for other, other_pid, _ in launched:
                _stop_pid(other_pid)
                other.pid_file.unlink(missing_ok=True)
            raise ServiceError(
                f"{service.name}: did not become ready (exited, or no log or CPU progress for "
                f"{READY_TIMEOUT_S:.0f}s, or {READY_CAP_S:.0f}s in all; load average "
                f"{os.getloadavg()[0]:.1f}). Log {service.log_file}:\n{log}"
            )
        messages.append(f"{service.name}: started (pid {pid}, {service.host}:{service.ports[0]}){stale}")
    return messages


def kill(service: Service) -> int:
    """SIGKILL the service's process group, like a crashed host (chaos tests); returns the pid it killed."""
    pid = _read_pid(service)
    if pid is None or not pid_alive(pid):
        raise ServiceError(f"{service.name}: not running")
    os.killpg(pid, signal.SIGKILL)
    # The main thread turns zombie before the others have exited and closed the shared sockets: wait for the
    # ports too, or a restart right away finds them still taken.
    deadline = time.monotonic() + 60
    while (pid_alive(pid) or any(port_open(service.host, p) for p in service.ports)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def _check_free_space(service: Service) -> None:
    """A Kafka broker whose log dir fills up shuts itself down; clients then only see "connection refused"."""
    service.state_dir.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(service.state_dir).free // 2**20
    if free_mb < service.min_free_mb:
        raise ServiceError(
            f"{service.name}: only {free_mb} MB free under {service.state_dir} (need "
            f"{service.min_free_mb} MB). Free some space, or move the service state elsewhere "
            f"(HYBRIDREC_PATHS__RUN_DIR; the floor is HYBRIDREC_PATHS__MIN_FREE_DISK_MB)."
        )


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return -1


def _wait_ready(service: Service, pid: int, timeout: float) -> bool:
    """Wait while the process lives and makes progress: ``timeout`` counts from the last time its log grew or it
    used CPU (a JVM starting on a loaded machine may log nothing for minutes), up to :data:`READY_CAP_S`."""
    start = last_progress = time.monotonic()
    seen: tuple[int, int] = (-1, -1)
    while time.monotonic() - last_progress < timeout and time.monotonic() - start < READY_CAP_S:
        if not pid_alive(pid):
            return False
        if service.ready():
            return True
        try:
            size = service.log_file.stat().st_size
        except OSError:
            size = -1
        now = (size, _cpu_ticks(pid))
        if now != seen:
            seen, last_progress = now, time.monotonic()
        time.sleep(0.3)
    return False


def _stop_pid(pid: int, grace_s: float = 30.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def down(service: Service) -> str:
    pid = _read_pid(service)
    if pid is None:
        return f"{service.name}: not running"
    if pid_alive(pid):
        _stop_pid(pid)
        msg = f"{service.name}: stopped (pid {pid})"
    else:
        msg = f"{service.name}: not running (removed stale pid file of pid {pid})"
    service.pid_file.unlink(missing_ok=True)
    return msg


def status(service: Service) -> str:
    pid = _read_pid(service)
    where = f"{service.host}:{service.ports[0]}"
    if pid is None or not pid_alive(pid):
        taken = [p for p in service.ports if port_open(service.host, p)]
        extra = f"; port {taken[0]} is held by {_who_listens(taken[0])}" if taken else ""
        return f"{service.name}: stopped ({where}){extra}"
    return f"{service.name}: {'ready' if service.ready() else 'NOT READY'} (pid {pid}, {where})"


def services(settings: Settings) -> dict[str, Service]:
    """`make up`'s services by name, then the cluster's nodes (``kafka-1`` …)."""
    return {
        "kafka": _kafka(settings),
        "redis": _redis(settings),
        **{node.name: node for node in kafka_cluster(settings)},
    }


GROUPS = {"kafka-cluster": lambda settings: [n.name for n in kafka_cluster(settings)]}
DEFAULT = ("kafka", "redis")


def cluster_env(settings: Settings) -> str:
    """The environment that points every hybridrec command at the local cluster (shell syntax)."""
    kafka = settings.kafka.on_local_cluster()
    return (
        f"HYBRIDREC_KAFKA__BOOTSTRAP_SERVERS={kafka.bootstrap_servers} "
        f"HYBRIDREC_KAFKA__TOPICS__REPLICATION_FACTOR={kafka.topics.replication_factor}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "cluster-env"])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="SERVICE",
        help="kafka, redis, kafka-cluster or one of its nodes kafka-N (default: kafka and redis)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "cluster-env":
        print(cluster_env(settings))
        return 0
    known = services(settings)
    requested = args.names or list(DEFAULT)
    unknown = sorted(set(requested) - set(known) - set(GROUPS))
    if unknown:
        parser.error(f"unknown service(s) {unknown}; choose from {sorted([*known, *GROUPS])}")
    # a cluster is one unit: its nodes start together
    units = [[known[n] for n in GROUPS[name](settings)] if name in GROUPS else [known[name]] for name in requested]
    failed = False
    if args.command == "up":
        for unit in units:
            try:
                print("\n".join(up_together(unit)), flush=True)
            except ServiceError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                failed = True
        return 1 if failed else 0
    flat = [service for unit in units for service in unit]
    action = {"down": down, "status": status}[args.command]
    for service in reversed(flat) if args.command == "down" else flat:
        try:
            print(action(service), flush=True)
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
