"""``python -m demo``: the whole lambda loop on one machine, with a report.

Steps: the run's namespace and the Flink job → history (first ~90 % by time) through Kafka → Flink → archive and
fresh features → nightly batch on the archive (train, gates, promote) → the ranker, sample homepages → the
replay evaluation (batch-only rows, then the live period streamed with a pause wherever a target is due,
hybrid and popularity rows there, sample homepages along the way; offline baselines on the same targets) → a
burst of fresh events for one user, homepage before and after → ``report.html``.

The loop and the evaluation are :mod:`evaluation`'s (the same code as ``hybridrec eval replay``); this module
adds what only the demo shows: homepages as text and the burst.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from evaluation import services
from evaluation.cli import PER_TARGET, ReplayDefaults, add_replay_arguments, render_table, replay_options
from evaluation.client import RankerClient, page_rows, render_homepage
from evaluation.features import read_states
from evaluation.loop import Loop, LoopOptions, say
from evaluation.replay import Replay, ReplayOptions, catalog_of, write_per_target
from evaluation.report import write_report
from hybridrec.config import Settings
from hybridrec.contract import archive_table
from hybridrec.metrics import percentiles
from hybridrec.nextitem import Pause
from hybridrec_pb import ranker_pb2 as pb

STEPS = 8
DEMO_DEFAULTS = ReplayDefaults(
    dataset=LoopOptions.dataset,
    datasets=("ml-100k", "ml-latest-small", "ml-1m", "synthetic"),
    max_targets_per_user=10,
    targets_help="first N targets of each user (the full evaluation, `hybridrec eval replay`, takes 50)",
    workdir=LoopOptions.workdir,
    namespace=LoopOptions.namespace,
    events=LoopOptions.events,
    history_fraction=LoopOptions.history_fraction,
)


@dataclass
class Options:
    loop: LoopOptions = field(default_factory=LoopOptions)
    replay: ReplayOptions = field(default_factory=lambda: ReplayOptions(max_targets_per_user=10))
    deadline_ms: float = 250.0  # sample homepages: the production budget
    sample_users: int = 3
    page_every_s: float = 15.0  # a sample homepage this often during the live period


def step(n: int, msg: str) -> None:
    say(f"\n[{n}/{STEPS}] {msg}")


def run(opts: Options) -> dict[str, Any]:
    with Loop(opts.loop) as loop:
        step(1, f"data: {opts.loop.dataset}")
        cut = loop.load_data()
        step(2, "services: Kafka, Redis (make up), the run's topics and the Flink job")
        loop.start_stream()
        step(3, f"history: replay {cut.history.num_rows:,} events through Kafka → Flink → archive + features")
        loop.stream_history()
        step(4, f"nightly batch on the archive, as of {cut.as_of} (Spark, ALS, ranker, FAISS, gates)")
        loop.nightly_batch()
        step(5, "the ranker (gRPC), loading the promoted model")
        client = loop.start_ranker()
        titles = {i.item_id: i.title for i in loop.items}
        replay = Replay(loop, opts.replay)
        samples = _sample_users(replay, opts.sample_users) or [str(cut.history.column("user_id")[-1])]
        for user in samples:
            _print_page(client, user, cut.split_ms, titles, opts.deadline_ms, "at the split")

        step(6, f"batch-only rows for {len(replay.targets):,} targets (no event after the split streamed)")
        replay.ask_batch_only()
        step(
            7,
            f"live: stream {cut.live.num_rows:,} events, pausing at {len(replay.pauses):,} points where "
            "targets are due (hybrid and popularity rows there)",
        )
        last_page = [time.monotonic()]

        def sample_page(pause: Pause, k: int) -> None:
            if time.monotonic() - last_page[0] > opts.page_every_s:
                _print_page(client, samples[k % len(samples)], pause.time_ms, titles, opts.deadline_ms, "live")
                last_page[0] = time.monotonic()

        replay.stream_live(on_pause=sample_page)
        fr = percentiles([f for _, f in loop.timeline.freshness])
        say(
            f"  features readable through Feast after a pause: p50 {fr['p50']:.0f} ms, p99 {fr['p99']:.0f} ms over "
            f"{len(loop.timeline.freshness)} pauses"
        )

        step(8, "a burst of fresh events for one user: the homepage before and after")
        end_ms = int(cut.live.column("event_time_ms")[-1].as_py()) if cut.live.num_rows else cut.split_ms
        loop.result["burst"] = _burst(loop, client, samples[0], end_ms + 120_000, titles, opts)
        latencies = list(client.latencies_ms)

    result = loop.result
    say("\nquality (the same targets for every mode and baseline):")
    result["replay"] = replay.results(catalog_of(loop))
    say(render_table(result["replay"]))
    result["kind"] = "demo"
    result["latency_ms"] = percentiles(latencies)
    result["latencies"] = latencies
    result["timeline"] = {"ingest": loop.timeline.ingest, "freshness": loop.timeline.freshness}
    result["freshness_ms"] = percentiles([f for _, f in loop.timeline.freshness])
    (loop.workdir / "result.json").write_text(json.dumps(result, default=str))
    write_per_target(replay, loop.workdir / PER_TARGET)
    path = write_report(result, loop.workdir / "report.html")
    say(f"\nreport: {path}")
    return result


def _sample_users(replay: Replay, n: int) -> list[str]:
    """Users with the most targets: their pages change the most during the live period."""
    counts: dict[str, int] = {}
    for t in replay.targets:
        counts[t.user_id] = counts.get(t.user_id, 0) + 1
    return sorted(counts, key=lambda u: (-counts[u], u))[:n]


def _print_page(
    client: RankerClient, user: str, time_ms: int, titles: dict[str, str], deadline_ms: float, when: str
) -> pb.HomepageResponse | None:
    resp, call = client.homepage(user, time_ms=time_ms, deadline_ms=deadline_ms)
    say(f"  user {user} {when} ({call.latency_ms:.0f} ms, model {call.model_version or '-'}):")
    if resp is None:
        say(f"    {call.error}")
        return None
    for line in render_homepage(resp, titles):
        say("  " + line)
    return resp


def _burst(
    loop: Loop, client: RankerClient, user: str, at_ms: int, titles: dict[str, str], opts: Options
) -> dict[str, Any]:
    """Five plays of one genre the user's page does not show, then the page again.

    The titles are ones the served model knows: only an item with a vector has neighbours to explain ("Because
    you watched X"); a title the last nightly run never saw seeds no row (docs/serving.md), and in a small
    world some titles never occur in the history at all."""
    genres_of = {i.item_id: i.genres for i in loop.items}
    before = _print_page(client, user, at_ms, titles, opts.deadline_ms, "before the burst")
    shown = {i.item_id for r in (before.rows if before else []) for i in r.items}
    shown_genres = {g for i in shown for g in genres_of.get(i, ())}
    known = _model_items(loop.settings)
    candidates = [i for i in loop.items if i.item_id not in shown and i.genres and (not known or i.item_id in known)]
    genre = next((g for i in candidates for g in i.genres if g not in shown_genres), candidates[0].genres[0])
    picked = [i for i in candidates if genre in i.genres][:5]
    rows = [
        {
            "event_id": f"burst-{at_ms}-{k}",
            "user_id": user,
            "item_id": i.item_id,
            "event_type": "PLAY",
            "value": 1800.0,
            "event_time_ms": at_ms + 30_000 * k,
            "surface": "demo/burst",
        }
        for k, i in enumerate(picked)
    ]
    loop.producer.send_batch(archive_table(rows))
    loop.producer.flush()
    last = rows[-1]["event_time_ms"]
    loop.clock.tick(last + 60_000)
    services.wait_until(
        "the burst to reach the fresh features",
        lambda: (read_states(loop.store, [user])[user].last_event_ms or 0) >= last,
        120,
    )
    say(f"  user {user} played {len(picked)} {genre} titles: {', '.join(titles[i.item_id] for i in picked)}")
    after = _print_page(client, user, last + 60_000, titles, opts.deadline_ms, "after the burst")
    return {
        "user": user,
        "genre": genre,
        "played": [titles[i.item_id] for i in picked],
        "before": page_rows(before, titles) if before else [],
        "after": page_rows(after, titles) if after else [],
    }


def _model_items(settings: Settings) -> set[str]:
    """Item ids of the promoted model (empty when none was promoted: then any title will do, no row can be
    explained anyway)."""
    from hybridrec.model_artifacts import ITEM_IDS
    from hybridrec.registry import ModelRegistry

    current = ModelRegistry(settings.paths.registry_root).current()
    return set(json.loads(current.artifact(ITEM_IDS).read_text())) if current is not None else set()


def parse_options(argv: list[str] | None = None) -> Options:
    """The demo's options from its command line (the replay's shared options, with the demo's defaults)."""
    p = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_replay_arguments(p, DEMO_DEFAULTS)
    args = p.parse_args(argv)
    loop, replay = replay_options(args)
    return Options(loop=loop, replay=replay)


def main(argv: list[str] | None = None) -> int:
    opts = parse_options(argv)
    try:
        run(opts)
    except services.ServiceFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    return 0
