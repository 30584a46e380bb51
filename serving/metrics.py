"""Prometheus metrics of the ranker, on a registry of their own so several servers (tests) can coexist."""

from __future__ import annotations

from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, start_http_server

_LATENCY = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self._http: WSGIServer | None = None
        # Bound metric children: ``labels()`` costs a lock and a dict lookup per call, a dozen times a page.
        self._children: dict[tuple[int, str], Any] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.request = Histogram(
            "hybridrec_serving_request_seconds", "Latency per gRPC method", ["method"], buckets=_LATENCY, registry=r
        )
        self.stage = Histogram(
            "hybridrec_serving_stage_seconds", "Latency per ranking stage", ["stage"], buckets=_LATENCY, registry=r
        )
        self.degraded = Counter(
            "hybridrec_serving_degraded_total", "Responses that fell back, by reason", ["reason"], registry=r
        )
        self.candidates = Histogram(
            "hybridrec_serving_candidates",
            "Candidates per row before filtering",
            ["row"],
            buckets=(0, 10, 25, 50, 100, 200, 400, 800),
            registry=r,
        )
        self.errors = Counter(
            "hybridrec_serving_errors_total", "Calls answered with an error status", ["method", "code"], registry=r
        )
        self.model_info = Gauge(
            "hybridrec_serving_model_info", "1 for the model version being served", ["version"], registry=r
        )
        self.model_loads = Counter(
            "hybridrec_serving_model_loads_total", "Model load attempts by outcome", ["outcome"], registry=r
        )
        self.impressions = Counter(
            "hybridrec_serving_impressions_total", "Impression logs by outcome", ["outcome"], registry=r
        )
        self.catalog_skipped = Gauge(
            "hybridrec_serving_catalog_skipped_records",
            "Records of the catalog topic skipped by its last read, by reason",
            ["reason"],
            registry=r,
        )
        self.pages = Counter(
            "hybridrec_serving_pages_total",
            "Homepages and rows served, by outcome: degraded = any fallback flag (user:cold_start is not one)",
            ["outcome"],
            registry=r,
        )
        self.breaker_opened = Counter(
            "hybridrec_serving_breaker_opened_total",
            "Times the feature-store breaker opened, by the last failure's kind",
            ["cause"],
            registry=r,
        )
        self.feature_timeouts = Counter(
            "hybridrec_serving_feature_timeouts_total",
            "Feature reads that timed out, by whom: store (counted by the breaker) or "
            "loop_busy (other calls held the event loop for most of the wait)",
            ["cause"],
            registry=r,
        )
        self.for_you_diversity_weight = Gauge(
            "hybridrec_serving_for_you_diversity_weight",
            "The fused FOR_YOU's genre re-rank weight, as the entropy guardrail has moved it",
            registry=r,
        )
        self.popular_entropy = Gauge(
            "hybridrec_serving_popular_entropy_bits",
            "Moving average of the genre entropy of the popular rows served to users with a history",
            registry=r,
        )
        self.for_you_entropy_gap = Summary(
            "hybridrec_serving_for_you_entropy_gap_bits",
            "Genre entropy of each served fused FOR_YOU row minus the popular rows' moving average (the guardrail: "
            "rate(_sum) / rate(_count) >= 0)",
            registry=r,
        )
        self.variant = Counter("hybridrec_serving_variant_total", "Requests per A/B variant", ["variant"], registry=r)
        self.undelivered = Counter(
            "hybridrec_serving_undelivered_total",
            "Responses grpc could not send because the call had ended first (client deadline or cancel)",
            ["method"],
            registry=r,
        )

    def child(self, metric: Any, label: str, value: str) -> Any:
        """``metric.labels(label=value)``, bound once per metric and value."""
        key = (id(metric), value)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(**{label: value})
        return c

    def set_model(self, version: str, previous: str | None) -> None:
        if previous is not None:
            self.model_info.labels(version=previous).set(0)
        self.model_info.labels(version=version).set(1)

    def serve(self, port: int, addr: str) -> int:
        """Expose /metrics; returns the bound port (``port`` 0 picks a free one)."""
        self._http, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        """Stop the /metrics server and free its port (a stopped ranker in a long-lived process left it open)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
