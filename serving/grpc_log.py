"""grpc's log line for a response it could not send, said as what it is.

When a call ends before its response is sent (the client's deadline passed, or it cancelled), grpc.aio's core
fails the send batch and logs ``ExecuteBatchError raised in core by servicer method [...]`` at ERROR with a
traceback. Nothing on the server failed: the answer came too late for a client that had already given up,
which the load benchmark shows as the client's DEADLINE_EXCEEDED/UNAVAILABLE. This filter turns that one
record into an INFO line saying so, without the traceback, and counts it in
``hybridrec_serving_undelivered_total{method}``; every other grpc record passes unchanged.
"""

from __future__ import annotations

import logging

from serving.metrics import Metrics

GRPC_LOGGER = "grpc._cython.cygrpc"
_PREFIX = "ExecuteBatchError raised in core by servicer method"


class UndeliveredResponse(logging.Filter):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_PREFIX):
            return True
        method = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "?"
        self.metrics.undelivered.labels(method=method).inc()
        if not logging.getLogger(record.name).isEnabledFor(logging.INFO):
            return False
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg = "%s: response not delivered, the call had ended (client deadline or cancel) before it was sent"
        record.args = (method,)
        record.exc_info = record.exc_text = None
        return True


def install(metrics: Metrics) -> UndeliveredResponse:
    """Put the filter on grpc's logger (replacing one a previous server of this process installed)."""
    logger = logging.getLogger(GRPC_LOGGER)
    for f in [f for f in logger.filters if isinstance(f, UndeliveredResponse)]:
        logger.removeFilter(f)
    f = UndeliveredResponse(metrics)
    logger.addFilter(f)
    return f
