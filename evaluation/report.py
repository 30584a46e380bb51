"""The report of a run of the loop (the demo, a replay evaluation): one self-contained HTML file (inline SVG
charts, no external assets); it shows the sections the run has."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from evaluation import scoring, svg, uncertainty

CSS = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.note{color:#666;font-size:90%}
.pages{display:flex;gap:2em}.pages>div{flex:1}ol{margin:0;padding-left:1.4em}"""
METRICS = ("ndcg@10", "recall@10", "recall@20", "map@10", "coverage@10", "genre_entropy@10", "novelty@10")


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        # NaN: a metric that does not apply to the row (an offline baseline has no degraded answers)
        text = ("—" if math.isnan(v) else f"{v:.4f}") if isinstance(v, float) else escape(str(v))
        return f"<{tag}{' class=l' if i < left else ''}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def metric_rows(tree: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Mapping[str, float]]]:
    """Every leaf of a nested metrics dict that holds known metrics, labelled by its path."""
    if not isinstance(tree, Mapping):
        return []
    if any(k in tree for k in METRICS):
        return [(" / ".join(path), tree)]
    return [row for k, v in tree.items() for row in metric_rows(v, (*path, str(k)))]


def _quality(replay: Mapping[str, Any]) -> str:
    """The replay's table (every served mode and baseline, per segment) and its NDCG@10 chart."""
    modes = replay.get("modes") or {}
    if not modes:
        return "<p>no replay in this run.</p>"
    proto, checks = replay.get("protocol", {}), replay.get("checks", {})
    served = set(replay.get("served") or ())
    parts = [
        f"<p>{proto.get('targets', 0):,} targets ({proto.get('returning', 0):,} of returning users), at most "
        f"{proto.get('max_targets_per_user')} per user, {proto.get('pauses', 0):,} pauses; history fraction "
        f"{proto.get('history_fraction')}. Paused states checked through Feast: "
        f"{checks.get('state_mismatches', 0)} mismatches; {checks.get('timed_out_targets', 0)} targets waited "
        f"past the {checks.get('freshness_timeout_s', 0):.0f} s freshness timeout.</p>"
    ]
    columns = [*scoring.HEADLINE, "seen@20", "degraded"]
    for seg in scoring.SEGMENTS:
        n = int(next(iter(modes.values()))[seg]["targets"])
        rows = [
            [("served: " if mode in served else "") + mode, *row[1:-1], _count(row[-1])]
            for mode, row in zip(modes, scoring.table(modes, seg, columns), strict=True)
        ]
        parts.append(f"<h3>{seg} ({n:,} targets)</h3>" + _table(["mode", *columns], rows))
    parts.append(_intervals(replay.get("intervals") or {}))
    parts.append(_guardrail(replay.get("guardrail") or {}))
    parts.append(
        svg.grouped_bars(
            {mode: {seg: m[seg]["ndcg@10"] for seg in scoring.SEGMENTS} for mode, m in modes.items()},
            title="NDCG@10 of the served modes and the offline baselines",
            ylabel="NDCG@10",
        )
    )
    return "".join(parts)


def _intervals(got: Mapping[str, Any]) -> str:
    """The ratios the replay is judged by, each with its interval (:mod:`evaluation.uncertainty`)."""
    ratios = got.get("ratios") or {}
    if not ratios:
        return ""
    rows = [
        [
            uncertainty.ratio_label(name, r),
            f"{r['value']:.3f}×",
            f"{r['low']:.3f}× – {r['high']:.3f}×",
        ]
        for name, r in ratios.items()
    ]
    level = round(100 * got.get("level", 0.95))
    return (
        f"<h3>NDCG@10 ratios, {level} % intervals (paired bootstrap over {got.get('users', 0):,} users, "
        f"{got.get('draws', 0):,} draws)</h3>" + _table(["ratio", "value", "interval"], rows)
    )


def _guardrail(phases: Mapping[str, Mapping[str, float]]) -> str:
    """The ranker's genre-entropy guardrail after each phase (docs/serving.md): where the fused row's weight went
    and how far its rows stayed from the popular rows' entropy; nothing when the ranker kept a fixed weight (no
    fused row counted)."""
    if not any(g.get("rows") for g in phases.values()):
        return ""
    rows = [
        [
            phase,
            g.get("weight", 0.0),
            g.get("popular_bits", 0.0),
            f"{int(g.get('rows', 0)):,}",
            g.get("mean_gap_bits", 0.0),
        ]
        for phase, g in phases.items()
    ]
    return "<h3>FOR_YOU's genre-entropy guardrail in the ranker</h3>" + _table(
        ["phase", "re-rank weight", "popular rows' entropy (bits)", "fused rows", "mean gap (bits)"], rows
    )


def _count(v: Any) -> Any:
    """A count column (degraded answers): an integer, or a dash where it does not apply (offline baselines)."""
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def _page(rows: list[tuple[str, list[str]]]) -> str:
    return "".join(
        f"<p><b>{escape(title)}</b></p><ol>" + "".join(f"<li>{escape(t)}</li>" for t in items[:8]) + "</ol>"
        for title, items in rows
    )


def render(result: Mapping[str, Any]) -> str:
    batch = result.get("batch") or {}
    lat = result.get("latency_ms") or {}
    fr = result.get("freshness_ms") or {}
    ingest = result.get("timeline", {}).get("ingest") or []
    fresh = result.get("timeline", {}).get("freshness") or []
    parts = [
        f"<!doctype html><meta charset=utf-8><title>hybridrec {escape(str(result.get('kind', 'run')))}</title>"
        f"<style>{CSS}</style>",
        "<h1>hybridrec: the lambda loop end to end</h1>",
        f"<p>{escape(str(result.get('description', '')))}"
        + (" — <b>SYNTHETIC data</b>" if result.get("synthetic") else "")
        + "</p>",
        f"<p class=note>run started {escape(str(result.get('started')))}; {result.get('events', 0):,} events: "
        f"history {result.get('history', 0):,} (through the {escape(str(result.get('as_of')))} batch), "
        f"live period {result.get('live', 0):,}.</p>",
    ]

    parts.append("<h2>Ingest: Kafka → Flink → archive</h2>")
    if ingest:
        t = [s[0] for s in ingest]
        parts.append(
            svg.line_chart(
                {
                    "produced to Kafka": (t, [s[1] for s in ingest]),
                    "consumed by Flink (checkpointed)": (t, [s[2] for s in ingest]),
                    "archived (committed Parquet)": (t, [s[3] for s in ingest]),
                },
                title="events over time",
                xlabel="seconds since start",
                ylabel="events",
            )
        )
    parts.append(
        f"<p>history replayed in {result.get('replay_s')} s; consumed and archived by the job in "
        f"{result.get('history_stream_s')} s ({result.get('history_rate', 0):,} events/s end to end).</p>"
    )

    parts.append("<h2>Freshness: produce → readable through Feast</h2>")
    if fresh:
        parts.append(
            svg.line_chart(
                {"probe": ([f[0] for f in fresh], [f[1] for f in fresh])},
                points=True,
                title="pauses of the live period: produce, flush, clock → the users' features readable",
                xlabel="seconds since start",
                ylabel="ms",
            )
        )
    parts.append(
        f"<p>{len(fresh)} pauses that waited on a user's features: p50 {fr.get('p50', float('nan')):.0f} ms, "
        f"p99 {fr.get('p99', float('nan')):.0f} ms.</p>"
    )

    parts.append("<h2>Ranker latency</h2>")
    parts.append(
        svg.histogram(
            result.get("latencies") or [],
            marker=(250.0, "250 ms budget"),
            title="client-side latency of every call of the run",
            xlabel="ms",
        )
    )
    parts.append(
        f"<p>{len(result.get('latencies') or [])} calls: p50 {lat.get('p50', float('nan')):.1f} ms, "
        f"p95 {lat.get('p95', float('nan')):.1f} ms, p99 {lat.get('p99', float('nan')):.1f} ms "
        "(evaluation rows: 1 s deadline, up to 4 calls in flight; sample homepages: the 250 ms budget).</p>"
    )

    parts.append("<h2>Quality: next-item replay through the running services</h2>")
    parts.append(_quality(result.get("replay") or {}))
    parts.append(
        "<p class=note>Every live engagement with an item the history knows and the user had not engaged with is "
        "a target, predicted from the state just before it: <i>hybrid</i> = the ranker's FOR_YOU row of 20 at a "
        "pause of the live stream where the user's fresh features hold exactly their earlier events; "
        "<i>batch-only</i> = the same row before any live event was streamed; <i>popularity</i> = the POPULAR "
        "row at the pause. Baselines are computed offline on the same targets from the same events (their "
        "hyper-parameters chosen on a validation cut inside the history). <i>seen@20</i>: items of the list the "
        "user had already engaged with. <i>returning</i> users engaged in the history; <i>new</i> users first "
        "engage after the cut. Protocol: docs/evaluation.md.</p>"
    )
    profile = result.get("live_profile") or {}
    if profile:
        parts.append(f"<p class=note>speed-layer profile of the paused replay: {escape(str(profile))}</p>")
    modes = (result.get("replay") or {}).get("modes") or {}
    if modes:
        parts.append(
            svg.bar_chart(
                {m: v["all"]["genre_entropy@20"] for m, v in modes.items()},
                title="genre entropy of the lists (bits, higher = more diverse)",
                ylabel="bits",
            )
        )

    parts.append("<h2>The nightly batch's own evaluation (next-item cases of its newest window, the gate's)</h2>")
    parts.append(
        f"<p>model {escape(str(batch.get('version')))}: "
        f"{'promoted' if batch.get('promoted') else 'NOT promoted'} in {result.get('batch_s')} s; "
        + escape("; ".join((batch.get("gate") or {}).get("reasons", [])))
        + "</p>"
    )
    rows = [[label, *(m.get(k, "") for k in METRICS)] for label, m in metric_rows(batch.get("metrics"))]
    if rows:
        parts.append(_table(["surface / model", *METRICS], rows))
    stages = batch.get("stages") or {}
    if stages:
        parts.append(_table(["stage", "seconds"], [[k, float(v)] for k, v in stages.items()]))

    burst = result.get("burst") or {}
    if burst:
        parts.append("<h2>A burst of fresh events</h2>")
        parts.append(
            f"<p>user {escape(str(burst['user']))} played {len(burst['played'])} "
            f"{escape(str(burst['genre']))} titles: {escape(', '.join(burst['played']))}.</p>"
        )
        parts.append(
            f"<div class=pages><div><h3>before</h3>{_page(burst['before'])}</div>"
            f"<div><h3>after</h3>{_page(burst['after'])}</div></div>"
        )
    return "".join(parts)


def write_report(result: Mapping[str, Any], path: Path) -> Path:
    path.write_text(render(result))
    return path
