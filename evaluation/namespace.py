"""A run's own namespace: topics ``<namespace>-<tag>.*``, Feast project ``hybridrec_<namespace>``, lake,
registry and checkpoints under the run's work directory, so runs never share state with each other or with
the services of the checkout."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from hybridrec.config import Settings

YEARS_MS = 40 * 365 * 86_400_000  # historical replays: the client clock is the replay clock (trending ages by
# the stream's own time, so it needs no such setting)


def namespace_env(workdir: Path, namespace: str, tag: str, ranker_port: int, metrics_port: int) -> dict[str, str]:
    """HYBRIDREC_* variables that give a run its own topics, lake, registry and Feast project."""
    data = workdir.resolve() / "data"
    prefix = f"{namespace}-{tag}"
    return {
        "HYBRIDREC_KAFKA__TOPICS__INTERACTIONS": f"{prefix}.interactions",
        "HYBRIDREC_KAFKA__TOPICS__DLQ": f"{prefix}.interactions.dlq",
        "HYBRIDREC_KAFKA__TOPICS__IMPRESSIONS": f"{prefix}.impressions",
        "HYBRIDREC_KAFKA__TOPICS__CATALOG": f"{prefix}.catalog",
        "HYBRIDREC_PATHS__DATA_DIR": str(data),
        "HYBRIDREC_PATHS__REGISTRY_DIR": str(data / "registry"),
        "HYBRIDREC_FEAST__PROJECT": f"hybridrec_{namespace}",
        "HYBRIDREC_FEAST__REGISTRY_PATH": str(data / "feast" / "registry.db"),
        "HYBRIDREC_STREAMING__GROUP_ID": f"{prefix}-streaming",
        "HYBRIDREC_STREAMING__CHECKPOINT_INTERVAL_MS": "5000",
        # Replays pause (the batch run, the evaluation's pauses) and end; the clock events reach every partition,
        # so no partition needs idleness to stop holding the watermark. With idleness on, partitions idle through
        # the batch run did not advance the watermark on the first nudge after it.
        "HYBRIDREC_STREAMING__SOURCE_IDLE_TIMEOUT_MS": "0",
        "HYBRIDREC_SERVING__PORT": str(ranker_port),
        "HYBRIDREC_SERVING__METRICS_PORT": str(metrics_port),
        "HYBRIDREC_SERVING__MAX_CLOCK_SKEW_MS": str(YEARS_MS),
    }


def reset(settings: Settings, workdir: Path, namespace: str) -> None:
    """Forget earlier runs of this namespace: their topics, their Feast keys in Redis, their lake and registry."""
    from hybridrec.feature_store import drop_online_rows
    from hybridrec.kafka.topics import admin_client, delete_topics

    old = [t for t in admin_client(settings.kafka).list_topics(timeout=30).topics if t.startswith(f"{namespace}-")]
    if old:
        delete_topics(settings.kafka, old)
    drop_online_rows(settings)
    shutil.rmtree(workdir / "data", ignore_errors=True)


def namespace_name(text: str) -> str:
    """argparse type of ``--namespace``: letters, digits and _ (it names topics and a Feast project)."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", text):
        raise argparse.ArgumentTypeError(f"namespace must be 1-40 letters, digits or _, got {text!r}")
    return text
