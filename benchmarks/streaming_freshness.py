"""Speed-layer freshness with the shipped settings: the time from producing an event to its user's features being
readable in Feast's Redis online store, under four kinds of traffic, on one job:

(b) ``steady``: 1 event/s spread over 200 users, every event a probe;
(d) ``quiet-partition``: ``--rate`` events/s on every partition but one, probes on the busy ones and, every few
    seconds, on the silent one;
(c) ``load``: ``--rate`` events/s (default 5,000) with ``--probes-per-s`` probes, after ``--warmup`` seconds;
(a) ``lone``: one event after ``--silence`` seconds without any (default 125 s), ``--lone`` times.

The load comes from a process of its own (``benchmarks/event_load.py``), as a site's traffic comes from other
hosts; it reports its probes back. A probe is an event of a user seen only once (or, for ``steady``, whose newer
event it is); it is readable when the Redis hash Feast reads holds its time in ``last_event_ms`` (same key and
field as Feast, see ``streaming.feast_writer.hash_layout``). The reader polls every pending probe with one
pipelined HGET per round, and at the end reads a sample of probes through ``get_online_features``.

``--homepage`` measures the product's promise instead: event → the next GetHomepage of its user reflects it. A
ranker runs in its own process with the shipped serving settings on the job's Feast project (a small model over the
catalog's items, published to a registry in the work dir); every probe is an engagement with an item new to its
user, and it is visible when a GetHomepage of that user shows "Because you watched <that item>" (the row serving
seeds with the user's newest engaged items, from the speed layer's ``recent_items``). A pending probe's user asks
for a homepage every ``--poll-ms`` (one call in flight per user; all users together at most ``--poll-calls-per-s``),
so the figure includes up to one interval of polling; the output counts the pages the ranker flagged degraded, by
reason, and the gaps between a user's asks.

    .venv/bin/python benchmarks/streaming_freshness.py                      # all four, shipped settings
    .venv/bin/python benchmarks/streaming_freshness.py --only load --rate 5000 --duration 60
    .venv/bin/python benchmarks/streaming_freshness.py --homepage --only steady --only quiet-partition --only lone
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
from confluent_kafka import Producer
from feast.protos.feast.types.Value_pb2 import Value

from benchmarks.event_load import LoadProcess, Probe, ProbeRule, event
from hybridrec.config import get_settings
from hybridrec.contract import USER_FRESH_VIEW
from hybridrec.kafka.producer import producer_config
from hybridrec.kafka.topics import ensure_topics
from hybridrec_pb import ranker_pb2 as pb
from hybridrec_pb import ranker_pb2_grpc
from hybridrec_pb.events_pb2 import EventType
from streaming.config import StreamingConfig, StreamingSettings
from tests.support import streaming_kit as testkit

SCENARIOS = ("steady", "quiet-partition", "load", "lone")
CATALOG_ITEMS = 5_000


class Probes:
    """Probe users → (produce wall time, event time, item); polled (``poll``, by a subclass) until they are seen."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[float, int, str]] = {}
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def add(self, user: str, produced: float, event_ms: int, item: str) -> None:
        with self.lock:
            self.sent[user] = (produced, event_ms, item)
            self.seen.pop(user, None)

    def forget_pending(self) -> None:
        """Drop the probes not seen yet: those of a warm-up, which is not measured. Polled, the 600 a 30 s warm-up
        leaves at 20 probes/s were asked for all at once when the measurement began, and the first seconds'
        probes waited behind them."""
        with self.lock:
            self.sent = {u: sent for u, sent in self.sent.items() if u in self.seen}

    def pending(self) -> list[tuple[str, tuple[float, int, str]]]:
        with self.lock:
            return [(u, sent) for u, sent in self.sent.items() if u not in self.seen]

    def saw(self, user: str, sent: tuple[float, int, str], at: float) -> None:
        """``user``'s probe ``sent`` was visible at ``at`` (ignored when a newer probe of the user replaced it)."""
        with self.lock:
            if self.sent.get(user) == sent:
                self.seen[user] = at - sent[0]

    def poll(self) -> None:
        raise NotImplementedError

    def latencies(self, since: float, until: float, prefix: str = "") -> tuple[list[float], int]:
        """Latencies of the probes produced in [since, until] (users starting with ``prefix``), and their number."""
        with self.lock:
            window = {u: t for u, (t, _, _) in self.sent.items() if since <= t <= until and u.startswith(prefix)}
            return [self.seen[u] for u in window if u in self.seen], len(window)


class FeastProbes(Probes):
    """Visible when the Redis hash Feast reads holds the probe's time in ``last_event_ms``: one pipelined HGET per
    round for every pending probe."""

    def __init__(self, client: object, layout: object) -> None:
        super().__init__()
        self.client, self.layout = client, layout
        self.field = next(h for name, _, h in layout.fields if name == "last_event_ms")  # type: ignore[attr-defined]

    def poll(self) -> None:
        pending = self.pending()
        if not pending:
            return
        with self.client.pipeline(transaction=False) as pipe:  # type: ignore[attr-defined]
            for user, _ in pending:
                pipe.hget(self.layout.redis_key(user), self.field)  # type: ignore[attr-defined]
            found = pipe.execute()
        now = time.time()
        for (user, sent), raw in zip(pending, found, strict=True):
            if raw is not None and Value.FromString(raw).int64_val >= sent[1]:
                self.saw(user, sent, now)


class HomepageProbes(Probes):
    """Visible when the probe user's next GetHomepage shows a "Because you watched <the probe's item>" row: serving
    seeds that row with the user's newest engaged items, which it reads from the speed layer's ``recent_items``.

    Each pending probe's user asks for a homepage every ``interval_s`` at most, with one call in flight per user
    (never a round that waits for its slowest call), and is stamped when the first answer that shows the probe
    arrives: the figure includes up to one interval of polling. All users together ask at most ``calls_per_s``
    times a second (the users asked longest ago first): the poller is the ranker's only client, and unbounded it
    was its own feedback loop — probes not yet visible multiply the calls, whose CPU (≈ 4 ms a page) the job then
    lacks on 2 cores, so probes stay pending longer (34,535 calls for 1,201 probes in one run, p50 6.3 s). When
    more users are pending than the rate serves every ``interval_s``, each is asked less often: the figure only
    grows (never flatters), and the report gives the gaps between a user's asks. Pages the ranker flagged
    degraded are counted by reason: a degraded page drops the user's fresh features, so it cannot show the probe."""

    def __init__(
        self,
        ranker: object,
        items_per_row: int = 10,
        interval_s: float = 0.05,
        calls_per_s: float = 100.0,
        readable: Probes | None = None,
    ) -> None:
        super().__init__()
        self.ranker, self.items_per_row, self.interval_s = ranker, items_per_row, interval_s
        self.readable = readable  # the same probes timed to Feast's hash: the speed layer's share of each
        self.calls_per_s = calls_per_s
        self.requests = 0
        self.failed = 0
        self.degraded: Counter[str] = Counter()
        self.call_ms: list[float] = []
        self.gap_ms: list[float] = []  # between two asks of the same pending user
        self._asked: dict[str, float] = {}  # user -> when their call in flight (or last call) was sent
        self._in_flight: set[str] = set()
        self._tokens, self._refilled = 1.0, time.time()

    def add(self, user: str, produced: float, event_ms: int, item: str) -> None:
        super().add(user, produced, event_ms, item)
        if self.readable is not None:
            self.readable.add(user, produced, event_ms, item)

    def forget_pending(self) -> None:
        super().forget_pending()
        if self.readable is not None:
            self.readable.forget_pending()

    def poll(self) -> None:
        if self.readable is not None:
            self.readable.poll()
        now = time.time()
        self._tokens = min(
            max(1.0, self.calls_per_s * self.interval_s), self._tokens + (now - self._refilled) * self.calls_per_s
        )
        self._refilled = now
        pending = self.pending()
        with self.lock:
            due = sorted(
                (self._asked.get(user, 0.0), user, sent)
                for user, sent in pending
                if user not in self._in_flight and now - self._asked.get(user, 0.0) >= self.interval_s
            )
        for last, user, sent in due:
            if self._tokens < 1.0:
                break
            self._tokens -= 1.0
            with self.lock:
                self._in_flight.add(user)
                self._asked[user] = now
                self.requests += 1
                if last:
                    self.gap_ms.append((now - last) * 1000)
            call = self.ranker.GetHomepage.future(  # type: ignore[attr-defined]
                pb.HomepageRequest(user_id=user, n_rows=5, items_per_row=self.items_per_row), timeout=2
            )
            call.add_done_callback(self._answered(user, sent, now))

    def _answered(self, user: str, sent: tuple[float, int, str], asked: float) -> Callable[[object], None]:
        def done(call: object) -> None:
            at = time.time()
            with self.lock:
                self._in_flight.discard(user)
                self.call_ms.append((at - asked) * 1000)
            try:
                page = call.result()  # type: ignore[attr-defined]
            except grpc.RpcError:
                with self.lock:
                    self.failed += 1
                return
            with self.lock:
                self.degraded.update(page.degraded)
            title = f"Because you watched {sent[2]}"  # the catalog's titles are the item ids here
            if any(r.type == pb.BECAUSE_YOU_WATCHED and r.title == title for r in page.rows):
                self.saw(user, sent, at)

        return done

    def report(self) -> dict[str, object]:
        with self.lock:
            q, gap = percentiles(list(self.call_ms)), percentiles(list(self.gap_ms))
        return {
            "requests": self.requests,
            "failed": self.failed,
            "degraded_by_reason": dict(self.degraded),
            "call_p50_ms": round(q[49], 1),
            "call_p99_ms": round(q[98], 1),
            "poll_interval_ms": round(self.interval_s * 1000),
            "poll_calls_per_s": self.calls_per_s,
            "ask_gap_p50_ms": round(gap[49], 1),
            "ask_gap_p99_ms": round(gap[98], 1),
        }


def start_load(
    settings: StreamingSettings, rate: float, rule: ProbeRule, probes: Probes, partitions: list[int] | None = None
) -> LoadProcess:
    """``rate`` events/s of random users from a process of its own (as a site's traffic comes from other hosts),
    its probes added to ``probes``."""

    def add(p: Probe) -> None:
        probes.add(p.user, p.produced, p.event_ms, p.item)

    topic = settings.kafka.topics.interactions
    return LoadProcess(
        producer_config(settings.kafka), topic, rate, rule, add, partitions=partitions, items=CATALOG_ITEMS
    ).start()


def percentiles(values: list[float]) -> list[float]:
    """The 1st..99th percentiles of ``values`` (index 49 is the median), never beyond the max; one value is every
    percentile, none gives zeros."""
    if len(values) >= 2:
        return statistics.quantiles(values, n=100, method="inclusive")
    return [values[0] if values else 0.0] * 99


def summarise(probes: Probes, since: float, until: float, prefix: str = "") -> dict[str, object]:
    """``summary`` of the probes produced in [since, until]; for the homepage, with the same probes' time to
    Feast's hash beside it (the speed layer's share)."""
    out = summary(*probes.latencies(since, until, prefix))
    if isinstance(probes, HomepageProbes) and probes.readable is not None:
        out["readable_in_feast"] = summary(*probes.readable.latencies(since, until, prefix))
    return out


def summary(latencies: list[float], expected: int) -> dict[str, object]:
    q = percentiles(latencies)
    return {
        "probes": expected,
        "readable": len(latencies),
        "p50_ms": round(q[49] * 1000) if latencies else None,
        "p99_ms": round(q[98] * 1000) if latencies else None,
        "max_ms": round(max(latencies) * 1000) if latencies else None,
    }


def measure(probes: Probes, seconds: float, drain_s: float = 10.0) -> tuple[float, float]:
    start = time.time()
    while time.time() < start + seconds:
        probes.poll()
        time.sleep(0.01)
    end = time.time()
    while time.time() < end + drain_s:
        probes.poll()
        time.sleep(0.01)
    return start, end


def start_ranker(settings: StreamingSettings, workdir: Path) -> tuple[subprocess.Popen, object]:
    """The ranker in its own process (``python -m serving.main``, the shipped serving settings but for the job's
    Feast project and topics) with a small model over the catalog's items in a registry under ``workdir`` (the
    batch layer's part), once it serves that model: the process and a GetHomepage stub."""
    from benchmarks.serving_load import wait_ready
    from serving.config import ServingSettings
    from tests.support import serving_env, serving_kit

    world = serving_kit.world(n_users=40, n_items=CATALOG_ITEMS)
    base = serving_env.serving_settings(settings, workdir)
    ranker = ServingSettings(**{**base.model_dump(exclude={"feast"}), "feast": settings.feast.model_dump()})
    serving_env.seed_features(ranker, world, {})
    serving_env.publish_model(ranker, world, workdir)
    topics = settings.kafka.topics
    environ = {
        **os.environ,
        "HYBRIDREC_FEAST__PROJECT": settings.feast.project,
        "HYBRIDREC_FEAST__REGISTRY_PATH": str(settings.feast.registry_path),
        "HYBRIDREC_PATHS__DATA_DIR": str(settings.paths.data_dir),
        "HYBRIDREC_PATHS__REGISTRY_DIR": str(ranker.paths.registry_root),
        **{
            f"HYBRIDREC_KAFKA__TOPICS__{name.upper()}": getattr(topics, name)
            for name in ("interactions", "dlq", "impressions", "catalog")
        },
    }
    port = ServingSettings().serving.port
    proc = subprocess.Popen([sys.executable, "-m", "serving.main", "--log-level", "WARNING"], env=environ)
    wait_ready(port, ["warm-up"])
    return proc, ranker_pb2_grpc.RankerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these (default: all)")
    parser.add_argument("--rate", type=int, default=5_000, help="events per second of load and quiet-partition")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds of each scenario")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of load before it is measured")
    parser.add_argument("--probes-per-s", type=int, default=20)
    parser.add_argument("--silence", type=float, default=125.0, help="seconds without events before a lone one")
    parser.add_argument("--lone", type=int, default=5, help="lone events")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument(
        "--homepage",
        action="store_true",
        help="measure event → the next GetHomepage shows it, through a ranker process",
    )
    parser.add_argument(
        "--poll-ms", type=float, default=50.0, help="--homepage: a pending probe's user asks at most this often"
    )
    parser.add_argument(
        "--poll-calls-per-s",
        type=float,
        default=100.0,
        help="--homepage: all pending users together ask at most this often (the poller's load on the ranker)",
    )
    args = parser.parse_args()
    only = args.only or list(SCENARIOS)

    workdir = Path(tempfile.mkdtemp(prefix="stream-fresh-"))
    defaults = StreamingConfig()
    # The shipped settings of everything that decides freshness (the isolated test settings change some).
    settings = testkit.isolated_streaming_settings(
        get_settings(),
        workdir,
        bounded=False,
        parallelism=args.parallelism,
        checkpoint_interval_ms=defaults.checkpoint_interval_ms,
        source_idle_timeout_ms=defaults.source_idle_timeout_ms,
    )
    testkit.build_jar()
    ensure_topics(settings.kafka)
    job = ranker = None
    results: dict[str, object] = {
        "settings": {
            k: getattr(settings.streaming, k)
            for k in (
                "flush_interval_ms",
                "buffer_timeout_ms",
                "max_out_of_orderness_ms",
                "source_idle_timeout_ms",
                "checkpoint_interval_ms",
                "parallelism",
            )
        }
    }
    try:
        testkit.publish_catalog(settings, {f"i{k}": testkit.GENRE_SETS[k % 5] for k in range(CATALOG_ITEMS)})
        job = testkit.JobProcess(settings, workdir)
        from hybridrec.feature_store import apply_definitions, open_store
        from streaming.feast_writer import hash_layout

        apply_definitions(settings)
        store = open_store(settings)
        layout = hash_layout(store.get_feature_view(USER_FRESH_VIEW), store.config)
        client = store._get_provider().online_store._get_client(store.config.online_store)
        probes: Probes = FeastProbes(client, layout)
        n = iter(range(10**9))

        # Start-up is not freshness: wait until one event is readable.
        warm, produced = event(next(n), "warm-up", "i1", EventType.CLICK)
        plain = Producer(producer_config(settings.kafka))
        plain.produce(settings.kafka.topics.interactions, warm.SerializeToString(), b"warm-up")
        plain.flush(30)
        probes.add("warm-up", produced, warm.event_time_ms, "i1")
        deadline = time.time() + 900
        while "warm-up" not in probes.seen:
            if job.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the job never wrote the warm-up event\n{job.tail()}")
            probes.poll()
            time.sleep(0.2)
        if args.homepage:
            ranker, stub = start_ranker(settings, workdir)
            probes = HomepageProbes(
                stub, interval_s=args.poll_ms / 1000, calls_per_s=args.poll_calls_per_s, readable=probes
            )

        if "steady" in only:  # (b) 1 event/s over 200 users, each one a probe
            load = start_load(settings, 1.0, ProbeRule("steady-", cycle=200), probes)
            since, until = measure(probes, args.duration)
            load.stop()
            results["steady_1_per_s"] = summarise(probes, since, until)
        if "quiet-partition" in only:  # (d) partition 0 silent but for a probe every 5 s
            silent = 0
            busy = [p for p in range(settings.kafka.topics.partitions) if p != silent]
            quiet_users = [f"quiet-{k}" for k in range(2_000)]
            every = max(1, args.rate // args.probes_per_s)
            load = start_load(settings, args.rate, ProbeRule("busy-", every), probes, partitions=busy)
            time.sleep(args.warmup)
            probes.forget_pending()
            stop = threading.Event()

            def quiet_probes() -> None:
                producer = Producer(producer_config(settings.kafka))
                for user in quiet_users:
                    if stop.wait(5.0):
                        break
                    e, produced = event(next(n), user, "i2", EventType.CLICK)
                    producer.produce(
                        settings.kafka.topics.interactions, e.SerializeToString(), user.encode(), partition=silent
                    )
                    producer.flush(10)
                    probes.add(user, produced, e.event_time_ms, "i2")

            quiet = threading.Thread(target=quiet_probes, daemon=True)
            quiet.start()
            since, until = measure(probes, args.duration)
            stop.set()
            produced_per_s = load.stop()
            results["quiet_partition"] = {
                "busy_partitions": summarise(probes, since, until, "busy-"),
                "silent_partition": summarise(probes, since, until, "quiet-"),
                "produced_per_s": round(produced_per_s),
            }
        if "load" in only:  # (c) --rate events/s
            every = max(1, args.rate // args.probes_per_s)
            load = start_load(settings, args.rate, ProbeRule("probe-", every), probes)
            time.sleep(args.warmup)
            probes.forget_pending()
            since, until = measure(probes, args.duration)
            produced_per_s = load.stop()
            results["load"] = {
                **summarise(probes, since, until),
                "rate": args.rate,
                "produced_per_s": round(produced_per_s),
            }
        if "lone" in only:  # (a) one event after a silence
            lone = []
            producer = Producer(producer_config(settings.kafka))
            for k in range(args.lone):
                time.sleep(args.silence)
                user = f"lone-{k}"
                e, produced = event(next(n), user, "i3", EventType.CLICK)
                producer.produce(settings.kafka.topics.interactions, e.SerializeToString(), user.encode())
                producer.flush(10)
                probes.add(user, produced, e.event_time_ms, "i3")
                measure(probes, 0.0, drain_s=30.0)
                lone.append(probes.seen.get(user))
            results["lone_after_silence"] = {
                **summary([x for x in lone if x is not None], len(lone)),
                "silence_s": args.silence,
            }
        sample = sorted(probes.seen)[-20:]
        got = store.get_online_features(
            features=[f"{USER_FRESH_VIEW}:last_event_ms"], entity_rows=[{"user_id": u} for u in sample]
        ).to_dict()
        assert all(v is not None for v in got["last_event_ms"]), "a probe found in Redis is not readable via Feast"
        if isinstance(probes, HomepageProbes):
            results["homepage"] = probes.report()
        print(json.dumps(results))
    finally:
        if ranker is not None:
            ranker.terminate()
            ranker.wait(30)
        if job is not None:
            job.kill()
        testkit.discard(settings)
        shutil.rmtree(workdir, ignore_errors=True)  # the job's checkpoints and archive: 100+ MB a run


if __name__ == "__main__":
    main()
