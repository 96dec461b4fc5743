"""An OTLP/gRPC receiver: the collector's own trace and metrics services (``opentelemetry-proto``)
on a real grpc.aio server, keeping what the suite's processes export to it.

Used by the telemetry end-to-end test, and by ``bench/throughput.py`` as the sink of traced runs.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2


def attributes_of(key_values) -> dict[str, object]:
    """OTLP ``KeyValue``s as a plain dict (strings, numbers, booleans; arrays as lists)."""

    def value(any_value: common_pb2.AnyValue):
        kind = any_value.WhichOneof("value")
        if kind == "array_value":
            return [value(v) for v in any_value.array_value.values]
        return getattr(any_value, kind) if kind else None

    return {kv.key: value(kv.value) for kv in key_values}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object]


@dataclass
class Received:
    """Everything exported so far: spans, and the latest value of each metric point."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    metric_exports: int = 0
    points: dict[tuple[str, str, tuple], object] = field(default_factory=dict)
    """(service, metric name, sorted attributes) → the last data point exported (cumulative)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        by_trace: dict[str, list[ReceivedSpan]] = defaultdict(list)
        for span in self.spans:
            by_trace[span.trace_id].append(span)
        return by_trace

    def metric(self, service: str, name: str) -> dict[tuple, object]:
        """The latest points of one metric of one service, by attributes."""
        return {
            attributes: point
            for (point_service, point_name, attributes), point in self.points.items()
            if point_service == service and point_name == name
        }


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received):
        self._received = received

    async def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = str(attributes_of(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self._received.spans.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes=attributes_of(span.attributes),
                        )
                    )
        self._received.changed.set()
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received):
        self._received = received

    async def Export(self, request, context):
        for resource_metrics in request.resource_metrics:
            service = str(attributes_of(resource_metrics.resource.attributes).get("service.name", ""))
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    data = getattr(metric, metric.WhichOneof("data"))
                    for point in data.data_points:
                        key = tuple(sorted(attributes_of(point.attributes).items(), key=str))
                        self._received.points[(service, metric.name, key)] = point
        self._received.metric_exports += 1
        self._received.changed.set()
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpReceiver:
    """``async with OtlpReceiver() as receiver:`` serves on ``receiver.endpoint``."""

    def __init__(self) -> None:
        self.received = Received()
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self.received), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self.received), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> OtlpReceiver:
        await self._server.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._server.stop(1)


class OtlpSink:
    """An OTLP/gRPC endpoint that accepts every export and keeps nothing, without even decoding it:
    the far end of a traced benchmark, costing the load generator as little as it can."""

    def __init__(self) -> None:
        self.exports = 0
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        methods = {
            "opentelemetry.proto.collector.trace.v1.TraceService": "Export",
            "opentelemetry.proto.collector.metrics.v1.MetricsService": "Export",
        }

        async def accept(_request: bytes, _context) -> bytes:
            self.exports += 1
            return b""  # an empty Export*ServiceResponse

        for service, method in methods.items():
            handler = grpc.unary_unary_rpc_method_handler(accept)  # bytes in, bytes out
            self._server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {method: handler}),)
            )
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> OtlpSink:
        await self._server.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._server.stop(1)
