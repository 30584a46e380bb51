"""One error hierarchy for the ranker; each class knows its gRPC status, mapped in one place
(:meth:`serving.servicer.RankerServicer._guarded`). Dependency failures are not errors here: they degrade the
response."""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """Base: an error the client should see, with its status."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidRequest(ServingError):
    """The request itself is wrong; the message names the field and the allowed range."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class DeadlinePassed(ServingError):
    """The call queued until its deadline passed: not the client's mistake, so not INVALID_ARGUMENT."""

    status = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(ServingError):
    status = grpc.StatusCode.NOT_FOUND


class Unavailable(ServingError):
    """Nothing at all can be served (no model and no fallback yet), so the client should retry elsewhere."""

    status = grpc.StatusCode.UNAVAILABLE
