"""The demo's pure parts: the temporal split and next-item protocol, the metrics, the report."""

from __future__ import annotations

import math
from datetime import date

import pytest

from demo import report, svg
from demo.metrics import genre_entropy, ndcg_at, percentiles, recall_at
from demo.split import split_events
from hybridrec.contract import archive_table

T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC
DAY_MS = 86_400_000


def _events(rows: list[tuple[str, str, int, str]]) -> object:
    return archive_table(
        [
            {"event_id": f"e{n}", "user_id": u, "item_id": i, "event_time_ms": t, "event_type": k}
            for n, (u, i, t, k) in enumerate(rows)
        ]
    )


def test_split_cuts_at_the_quantile_and_holds_out_each_users_last_engagement() -> None:
    rows = [(f"u{n % 5}", f"i{n}", T0 + n * DAY_MS // 4, "RATING") for n in range(36)]  # 9 days
    rows += [
        ("u1", "late-a", T0 + 9 * DAY_MS + 1000, "PLAY"),
        ("u1", "late-b", T0 + 9 * DAY_MS + 2000, "CLICK"),
        ("u1", "shown", T0 + 9 * DAY_MS + 3000, "IMPRESSION"),
        ("new", "n1", T0 + 9 * DAY_MS + 10, "PLAY"),
        ("new", "n2", T0 + 9 * DAY_MS + 20, "PLAY"),
        ("once", "o1", T0 + 9 * DAY_MS + 30, "PLAY"),
    ]
    split = split_events(_events(rows), history_fraction=0.86, max_users=100)  # 36 of 42 rows

    assert split.split_ms == T0 + 9 * DAY_MS + 10 and split.as_of == date(2023, 11, 23)
    assert split.history.num_rows == 36
    assert max(split.history.column("event_time_ms").to_pylist()) < split.split_ms
    assert min(split.live.column("event_time_ms").to_pylist()) >= split.split_ms
    assert split.window_days == 9
    by_user = {t.user_id: t for t in split.targets}
    assert "once" not in by_user  # one engagement leaves no context
    assert by_user["u1"].item_id == "late-b" and by_user["u1"].returning
    assert by_user["u1"].last_context_ms == T0 + 9 * DAY_MS + 1000
    assert by_user["new"].item_id == "n2" and not by_user["new"].returning
    live = list(zip(split.live.column("user_id").to_pylist(), split.live.column("item_id").to_pylist(), strict=True))
    assert ("u1", "late-b") not in live and ("u1", "shown") not in live  # the target and what follows it
    assert ("u1", "late-a") in live and ("new", "n1") in live and ("once", "o1") in live
    assert split.history.num_rows + split.live.num_rows + len(split.targets) + 1 == len(rows)


def test_split_keeps_events_of_one_millisecond_together() -> None:
    with pytest.raises(ValueError, match="no history or no live"):
        split_events(_events([("u", f"i{n}", T0, "PLAY") for n in range(20)]))


def test_next_item_metrics() -> None:
    ranked = ["a", "b", "c"]
    assert ndcg_at("a", ranked, 10) == 1.0
    assert ndcg_at("c", ranked, 10) == pytest.approx(0.5)
    assert ndcg_at("c", ranked, 2) == 0.0 and ndcg_at("z", ranked, 10) == 0.0
    assert recall_at("c", ranked, 3) == 1.0 and recall_at("c", ranked, 2) == 0.0


def test_genre_entropy_splits_multi_genre_items() -> None:
    genres = {"a": ("Drama",), "b": ("Comedy",), "c": ("Drama", "Comedy")}
    assert genre_entropy(["a", "a"], genres) == 0.0
    assert genre_entropy(["a", "b"], genres) == pytest.approx(1.0)
    assert genre_entropy(["a", "c"], genres) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    assert math.isnan(percentiles([])["p50"]) and percentiles([1, 2, 3])["p50"] == 2.0


def test_report_is_self_contained_and_shows_every_section() -> None:
    gain = {
        "all": {
            m: {"ndcg@10": 0.1, "recall@20": 0.2, "genre_entropy": 1.5, "users": 3, "degraded": 0}
            for m in ("popularity", "batch-only", "hybrid")
        }
    }
    result = {
        "description": "tiny",
        "synthetic": True,
        "latencies": [5.0, 300.0],
        "latency_ms": percentiles([5, 300]),
        "timeline": {"ingest": [(0.0, 10, 0, 0), (2.0, 10, 10, 10)], "freshness": [(1.0, 800.0)]},
        "freshness_ms": percentiles([800.0]),
        "gain": gain,
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
        "hybrid",
        "batch-only",
        "Because you watched A",
        "home / candidate",
        "beats popularity",
        "freshness of probe events",
    ):
        assert text in html, text
    assert html.count("<svg") == 4


def test_svg_histogram_marks_the_budget_even_when_every_call_is_faster() -> None:
    out = svg.histogram([1.0, 2.0, 3.0], title="t", xlabel="ms", marker=(250.0, "budget"))
    assert "budget" in out and out.startswith("<svg") and out.endswith("</svg>")
