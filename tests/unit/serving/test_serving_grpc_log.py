"""grpc's "ExecuteBatchError raised in core" after a client gave up: an INFO line and a metric, not an ERROR."""

from __future__ import annotations

import logging

import pytest

from serving import grpc_log
from serving.metrics import Metrics


def _log_as_grpc_does(message: str, *args: object) -> None:
    try:
        raise RuntimeError("Failed execute_batch")  # grpc logs it with the traceback of its ExecuteBatchError
    except RuntimeError:
        logging.getLogger(grpc_log.GRPC_LOGGER).exception(message, *args)


def test_undelivered_response_is_info_and_counted_other_grpc_errors_pass(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    grpc_log.install(metrics)
    grpc_log.install(metrics)  # a second server in the same process replaces, not stacks, the filter
    with caplog.at_level(logging.INFO, logger=grpc_log.GRPC_LOGGER):
        _log_as_grpc_does(
            "ExecuteBatchError raised in core by servicer method [%s]", "/hybridrec.v1.Ranker/GetHomepage"
        )
        _log_as_grpc_does("Unexpected [%s] raised by servicer method [%s]", "KeyError", "/x")
    late, other = caplog.records
    assert (late.levelno, late.exc_info) == (logging.INFO, None)
    assert late.getMessage().startswith("/hybridrec.v1.Ranker/GetHomepage: response not delivered")
    assert other.levelno == logging.ERROR and other.exc_info is not None, "other grpc errors are untouched"
    got = metrics.registry.get_sample_value(
        "hybridrec_serving_undelivered_total", {"method": "/hybridrec.v1.Ranker/GetHomepage"}
    )
    assert got == 1.0
    with caplog.at_level(logging.WARNING, logger=grpc_log.GRPC_LOGGER):  # INFO off: dropped, still counted
        caplog.clear()
        _log_as_grpc_does("ExecuteBatchError raised in core by servicer method [%s]", "/m")
    assert caplog.records == []
    assert metrics.registry.get_sample_value("hybridrec_serving_undelivered_total", {"method": "/m"}) == 1.0
