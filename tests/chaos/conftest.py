"""Fixtures of the chaos suite: the three-broker cluster (started like `make kafka-cluster`, left running), a
namespace per scenario, and the results table, printed at the end of the session and written to
``<run_dir>/chaos/table.md`` (docs/reliability.md keeps a copy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridrec.config import Settings
from tests.support import chaos_harness as harness

ROWS: list[harness.Row] = []


@pytest.fixture(scope="session")
def cluster(services: Settings) -> Iterator[Settings]:
    """`make kafka-cluster`'s nodes, up (idempotent; the settings still point at `make up`'s broker). Nodes this
    session started are stopped at its end; a cluster that was already running is left as it was."""
    local = harness.local_services
    nodes = local.kafka_cluster(services)
    started = [n for n in nodes if ": stopped" in local.status(n)]
    local.up_together(nodes)
    yield services
    for node in started:
        local.down(node)


@pytest.fixture
def namespace(cluster: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A scenario's own topics on the cluster and own redis-server; removed afterwards."""
    settings = harness.chaos_settings(cluster, tmp_path)
    redis = harness.redis_service(settings)
    harness.local_services.up(redis)
    harness.start_cluster(settings)
    try:
        yield settings
    finally:
        harness.local_services.down(redis)
        harness.discard_topics(settings)


@pytest.fixture
def table() -> list[harness.Row]:
    return ROWS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    text = harness.render(ROWS)
    terminalreporter.write_sep("=", "chaos: one fault at a time, under load")
    terminalreporter.write_line(text)
    from hybridrec.config import get_settings

    out = get_settings().paths.run_dir / "chaos" / "table.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    terminalreporter.write_line(f"(written to {out})")
