"""The run report: self-contained HTML with every section the run has, and its SVG charts."""

from __future__ import annotations

import math

from evaluation import report, svg
from hybridrec.metrics import percentiles


def _modes() -> dict[str, dict[str, dict[str, float]]]:
    seg = {
        "targets": 3,
        "ndcg@10": 0.1,
        "hr@10": 0.2,
        "recall@20": 0.3,
        "coverage@20": 0.4,
        "genre_entropy@20": 1.5,
        "novelty@20": 9.0,
        "seen@20": 2.0,
        "degraded": 0.0,
    }
    return {
        m: {s: dict(seg) for s in ("all", "returning", "new")} for m in ("popularity", "batch-only", "hybrid", "EASE")
    }


def test_report_is_self_contained_and_shows_every_section() -> None:
    result = {
        "kind": "demo",
        "description": "tiny",
        "synthetic": True,
        "latencies": [5.0, 300.0],
        "latency_ms": percentiles([5, 300]),
        "timeline": {"ingest": [(0.0, 10, 0, 0), (2.0, 10, 10, 10)], "freshness": [(1.0, 800.0)]},
        "freshness_ms": percentiles([800.0]),
        "live_profile": {"HYBRIDREC_STREAMING__FLUSH_INTERVAL_MS": "10"},
        "replay": {
            "protocol": {
                "targets": 3,
                "returning": 1,
                "max_targets_per_user": 50,
                "pauses": 2,
                "history_fraction": 0.9,
            },
            "checks": {"state_mismatches": 0, "timed_out_targets": 0, "freshness_timeout_s": 30.0},
            "served": ["popularity", "batch-only", "hybrid"],
            "modes": _modes(),
            "guardrail": {"after live": {"weight": 0.23, "popular_bits": 3.02, "rows": 3471, "mean_gap_bits": 0.003}},
            "intervals": {
                "level": 0.95,
                "draws": 2000,
                "users": 734,
                "ratios": {
                    "hybrid / batch-only": {"value": 2.52, "low": 2.2, "high": 2.9},
                    "hybrid / best baseline": {"baseline": "EASE", "value": 1.11, "low": 1.02, "high": 1.21},
                },
            },
        },
        "batch": {
            "version": "v1",
            "promoted": True,
            "gate": {"reasons": ["beats popularity"]},
            "metrics": {"home": {"candidate": {"ndcg@10": 0.3, "recall@10": 0.4}}},
            "stages": {"etl": 2.0},
        },
        "burst": {
            "user": "u1",
            "genre": "Drama",
            "played": ["A"],
            "before": [("Top picks", ["X"])],
            "after": [("Because you watched A", ["Y"])],
        },
    }
    html = report.render(result)
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
    for text in (
        "SYNTHETIC",
        "250 ms budget",
        "served: hybrid",
        "served: batch-only",
        "EASE",
        "returning (3 targets)",
        "Because you watched A",
        "home / candidate",
        "beats popularity",
        "FLUSH_INTERVAL_MS",
        "seen@20",
        "genre-entropy guardrail",
        "3,471",
        "95 % intervals (paired bootstrap over 734 users",
        "hybrid / best baseline (EASE)",
        "1.020× – 1.210×",
    ):
        assert text in html, text
    assert html.count("<svg") == 5  # ingest, freshness, latency, NDCG@10 by mode, genre entropy


def test_report_without_a_replay_says_so() -> None:
    assert "no replay in this run" in report.render({"description": "x"})


def test_the_guardrail_table_is_left_out_when_the_ranker_kept_a_fixed_weight() -> None:
    def page(rows: int) -> str:
        phases = {"after live": {"weight": 0.3, "popular_bits": 3.1, "rows": rows, "mean_gap_bits": 0.0}}
        return report.render({"description": "x", "replay": {"modes": _modes(), "guardrail": phases}})

    assert "genre-entropy guardrail" in page(5)
    assert "genre-entropy guardrail" not in page(0)


def test_svg_histogram_marks_the_budget_even_when_every_call_is_faster() -> None:
    out = svg.histogram([1.0, 2.0, 3.0], title="t", xlabel="ms", marker=(250.0, "budget"))
    assert "budget" in out and out.startswith("<svg") and out.endswith("</svg>")


def test_grouped_bars_draw_one_bar_per_group_and_series() -> None:
    out = svg.grouped_bars({"a": {"all": 0.1, "new": 0.2}, "b": {"all": 0.3, "new": math.nan}}, title="t", ylabel="y")
    assert out.count("<rect") == 4 + 1 + 2  # bars, frame, legend swatches
    assert "a / new: 0.2000" in out
