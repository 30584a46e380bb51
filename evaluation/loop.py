"""The lambda loop of one run, driven from outside as its users would: the run's namespace, the Flink job, the
history through Kafka → Flink → archive and fresh features, the nightly batch on that archive, the ranker.

The demo and the replay evaluation are both a :class:`Loop` plus their own steps after it. The deployables
are child processes (their own command lines) that the loop talks to only through Kafka, Redis (Feast), the
model registry and gRPC; nothing is imported across the deployables' boundaries.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from evaluation import namespace, services
from evaluation.client import RankerClient
from evaluation.features import open_store
from evaluation.stream import LIVE_PROFILE, Clock, Sampler, Timeline, drain
from hybridrec import nextitem
from hybridrec.config import Settings
from hybridrec.datasets import Item


@dataclass
class LoopOptions:
    dataset: str = "ml-latest-small"
    path: str | None = None
    events: int = 100_000  # synthetic only
    history_fraction: float = 0.9
    workdir: Path = Path(".run/demo")
    namespace: str = "demo"  # topics <namespace>-*, Feast project hybridrec_<namespace>; runs never share them
    timeout_s: float = 3600.0  # for each wait on the stream
    live_profile: bool = True  # the speed-layer knobs of stream.LIVE_PROFILE


def say(msg: str) -> None:
    print(msg, flush=True)


class Loop:
    """One run of the loop. Use as a context manager: the children are stopped on the way out."""

    def __init__(self, opts: LoopOptions, say: Callable[[str], None] = say) -> None:
        from hybridrec.config import get_settings

        self.opts, self.say = opts, say
        self.workdir = opts.workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs = self.workdir / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)
        tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.env_ns = namespace.namespace_env(
            self.workdir, opts.namespace, tag, services.free_port(), services.free_port()
        )
        if opts.live_profile:
            self.env_ns.update(LIVE_PROFILE)
        os.environ.update(self.env_ns)
        get_settings.cache_clear()
        self.settings = Settings()
        self.env = dict(os.environ)
        self.timeline = Timeline()
        self.result: dict[str, Any] = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "live_profile": dict(LIVE_PROFILE) if opts.live_profile else {},
        }
        self.children: list[services.Child] = []
        self.sampler: Sampler | None = None
        self.client: RankerClient | None = None
        self.items: list[Item] = []
        self.cut: nextitem.Cut | None = None

    # --- steps -------------------------------------------------------------------------------------------

    def load_data(self) -> nextitem.Cut:
        """The dataset (synthetic when MovieLens can be neither found nor downloaded), cut in time."""
        from hybridrec.datasets import load_dataset

        o = self.opts
        ds = load_dataset(
            o.dataset, o.path, self.settings, n_events=o.events, download_missing=True, fallback_synthetic=True
        )
        synthetic = ds.name.startswith("synthetic")
        fallback = synthetic and o.dataset != "synthetic"
        self.say(
            f"  {ds.description}" + ("  <-- SYNTHETIC data: the MovieLens files were not found" if fallback else "")
        )
        self.items = list(ds.items())
        events = pa.Table.from_batches(list(ds.batches(65_536)))
        self.cut = c = nextitem.cut(events, o.history_fraction)
        self.result.update(
            dataset=ds.name,
            description=ds.description,
            synthetic=synthetic,
            events=events.num_rows,
            history=c.history.num_rows,
            live=c.live.num_rows,
            as_of=c.as_of.isoformat(),
            history_fraction=o.history_fraction,
        )
        self.say(
            f"  {events.num_rows:,} events: history {c.history.num_rows:,} up to {c.as_of} (batch --as-of), "
            f"live period {c.live.num_rows:,}"
        )
        return c

    def start_stream(self) -> None:
        """The namespace reset, its topics and catalog, the Flink job, the producer and the ingest sampler."""
        from hybridrec import catalog
        from hybridrec.kafka.producer import EventProducer
        from hybridrec.kafka.topics import ensure_topics

        services.require_running(self.settings)
        namespace.reset(self.settings, self.workdir, self.opts.namespace)
        ensure_topics(self.settings.kafka)
        catalog.publish(self.items, self.settings.kafka, self.settings.paths.lake_dir)
        self.job = services.start_stream_job(self.env, self.logs)
        self.children.append(self.job)
        self.say(f"  Flink job started (log: {self.job.log}); topics {self.settings.kafka.topics.interactions}, ...")
        if self.opts.live_profile:
            self.say(f"  speed-layer profile of a paused replay: {LIVE_PROFILE}")
        self.producer = EventProducer(self.settings.kafka, self.settings.validation, component="evaluation")
        self.clock = Clock(self.settings)
        self.store = open_store(self.settings)
        self.sampler = Sampler(self.settings, self.env_ns["HYBRIDREC_STREAMING__GROUP_ID"], self.timeline, self.say)
        self.sampler.start()

    def stream_history(self) -> None:
        """Replay the history into Kafka at full speed; wait until the job consumed and archived all of it. A clock
        event just before the cut moves every partition's watermark past the history (the job fires its windows)."""
        assert self.cut is not None and self.sampler is not None
        history = self.cut.history
        t = time.perf_counter()
        for batch in history.to_batches(max_chunksize=16_384):
            self.producer.send_batch(batch)
        self.producer.flush()
        self.clock.tick(self.cut.split_ms - 1)
        produced = self.producer.stats.accepted + self.clock.sent
        r = self.result
        r["replay_s"] = round(time.perf_counter() - t, 2)
        self.say(
            f"  produced {self.producer.stats.accepted:,} events in {r['replay_s']} s "
            f"(dead-lettered {self.producer.stats.dead_lettered})"
        )
        t = time.perf_counter()
        drain(self.sampler, self.job, produced, produced, self.opts.timeout_s, self.say)
        r["history_stream_s"] = round(time.perf_counter() - t + r["replay_s"], 1)
        r["history_rate"] = round(produced / r["history_stream_s"])
        self.say(
            f"  the job consumed and archived all {produced:,} events in {r['history_stream_s']} s "
            f"({r['history_rate']:,} events/s end to end, the job's start-up included)"
        )

    def nightly_batch(self) -> dict[str, Any]:
        """`hybridrec batch run` as of the day of the last history event, over the whole history."""
        assert self.cut is not None
        report_path = self.workdir / "batch_report.json"
        t = time.perf_counter()
        code = services.run_batch(
            self.env,
            self.logs,
            as_of=self.cut.as_of.isoformat(),
            window_days=self.cut.window_days,
            report=report_path,
            on_line=self._batch_line,
        )
        if code != 0 or not report_path.exists():
            raise services.ServiceFailed(f"the batch run failed (exit {code}); log {self.logs / 'batch.log'}")
        batch = json.loads(report_path.read_text())
        self.result["batch_s"] = round(time.perf_counter() - t, 1)
        self.result["batch"] = batch
        self.say(
            f"  model {batch.get('version')}: {'PROMOTED' if batch.get('promoted') else 'NOT promoted'} "
            f"in {self.result['batch_s']} s"
        )
        return batch

    def guardrail(self) -> dict[str, float]:
        """The ranker's FOR_YOU entropy guardrail as its Prometheus endpoint shows it (:func:`guardrail_of`; {} when
        the endpoint does not answer)."""
        port = self.env_ns.get("HYBRIDREC_SERVING__METRICS_PORT")
        if not port:
            return {}
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return guardrail_of(resp.read().decode())
        except OSError:
            return {}

    def start_ranker(self) -> RankerClient:
        """The ranker, waited for until it serves the promoted model (or its fallbacks, without one)."""
        assert self.cut is not None
        port = int(self.env_ns["HYBRIDREC_SERVING__PORT"])
        self.children.append(services.start_ranker(self.env, self.logs, port))
        self.client = client = RankerClient(port)
        promoted = bool((self.result.get("batch") or {}).get("promoted"))
        probe_user = str(self.cut.history.column("user_id")[-1])

        def model_loaded() -> bool:
            if not client.serving():
                return False
            page = client.homepage(probe_user, time_ms=self.cut.split_ms, deadline_ms=2000)[1]  # type: ignore[union-attr]
            return bool(page.model_version) or not promoted

        services.wait_until("the ranker to serve the model", model_loaded, 300, self.children)
        return client

    # --- lifecycle ---------------------------------------------------------------------------------------

    def check(self) -> None:
        for child in self.children:
            child.check()

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.sampler is not None:
            self.sampler.stop_event.set()
        if self.client is not None:
            self.client.close()
        for child in reversed(self.children):
            child.stop()

    def _batch_line(self, line: str) -> None:
        """The batch run's own progress lines (Spark's chatter stays in the log file)."""
        if "hybridrec" in line or "Error" in line or "PROMOTED" in line or line.startswith(("version", "stages", "  ")):
            self.say(f"  batch | {line[:160]}")


def guardrail_of(metrics_text: str) -> dict[str, float]:
    """The FOR_YOU entropy guardrail in a ranker's Prometheus text: the weight now, the popular rows' moving average,
    and the fused rows so far with their mean gap to it (bits)."""
    got = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name.startswith(("hybridrec_serving_for_you_", "hybridrec_serving_popular_entropy"))
    }
    rows = got.get("hybridrec_serving_for_you_entropy_gap_bits_count", 0.0)
    gap = got.get("hybridrec_serving_for_you_entropy_gap_bits_sum", 0.0)
    out = {
        key: round(got[name], 4)
        for key, name in (
            ("weight", "hybridrec_serving_for_you_diversity_weight"),
            ("popular_bits", "hybridrec_serving_popular_entropy_bits"),
        )
        if name in got
    }
    return {**out, "rows": int(rows), "mean_gap_bits": round(gap / rows, 4) if rows else 0.0}
