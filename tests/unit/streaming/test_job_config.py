"""The job's Flink configuration: derived from the typed settings, with ``flink_options`` applied last."""

from __future__ import annotations

from hybridrec.config import get_settings
from streaming.config import streaming_settings
from streaming.job import flink_configuration


def test_flink_options_are_applied_last_and_override_derived_keys() -> None:
    settings = streaming_settings(get_settings(), checkpoint_interval_ms=5_000, flink_options={
        "pipeline.auto-watermark-interval": "50 ms", "execution.checkpointing.interval": "7 s"})
    conf = flink_configuration(settings)
    assert conf.get_string("pipeline.auto-watermark-interval", "") == "50 ms"
    assert conf.get_string("execution.checkpointing.interval", "") == "7 s"
    assert conf.get_string("table.local-time-zone", "") == "UTC"
