"""The replay reads the ranker's entropy guardrail from its Prometheus text (``evaluation.loop.guardrail_of``)."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from evaluation.loop import guardrail_of
from serving.metrics import Metrics


def test_the_guardrail_is_read_from_the_ranker_s_metrics_text() -> None:
    m = Metrics()
    m.for_you_diversity_weight.set(0.35)
    m.popular_entropy.set(3.125)
    for gap in (-0.25, 0.75, 0.1):
        m.for_you_entropy_gap.observe(gap)
    got = guardrail_of(generate_latest(m.registry).decode())
    value = m.registry.get_sample_value  # what the registry holds (one value per process and name after feast)
    rows = value("hybridrec_serving_for_you_entropy_gap_bits_count")
    assert got == {
        "weight": pytest.approx(0.35),
        "popular_bits": pytest.approx(3.125),
        "rows": int(rows),
        "mean_gap_bits": pytest.approx(value("hybridrec_serving_for_you_entropy_gap_bits_sum") / rows, abs=1e-4),
    }
    assert rows >= 3
    assert guardrail_of("# HELP nothing here\n\nother_metric 1.0\n") == {"rows": 0, "mean_gap_bits": 0.0}
