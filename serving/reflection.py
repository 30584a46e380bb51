"""gRPC server reflection under both names stock clients ask for: ``grpc.reflection.v1`` (grpcurl, ghz and
Postman try it first) and ``grpc.reflection.v1alpha`` (older clients).

grpcio-reflection implements only v1alpha. The v1 service is the same protocol under a new package name
(identical messages and field numbers), so the one servicer answers both: v1 is registered as a generic
handler that decodes and encodes with the v1alpha message classes.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1 = "grpc.reflection.v1.ServerReflection"
V1ALPHA = reflection.SERVICE_NAME


class _Servicer(reflection.aio.ReflectionServicer):
    """Also resolves a method's name (``hybridrec.v1.Ranker.GetHomepage``: what ghz asks for) to its service's
    file: protobuf's Python descriptor pool finds services and messages by symbol, not methods."""

    def _file_containing_symbol(self, fully_qualified_name: str) -> reflection_pb2.ServerReflectionResponse:
        found = super()._file_containing_symbol(fully_qualified_name)
        service, _, method = fully_qualified_name.rpartition(".")
        if found.HasField("error_response") and service:
            try:
                if self._pool.FindServiceByName(service).FindMethodByName(method) is not None:
                    return super()._file_containing_symbol(service)
            except KeyError:
                pass
        return found


def enable(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    servicer = _Servicer((*service_names, V1, V1ALPHA))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1, {"ServerReflectionInfo": handler}),))
