"""Real OTLP trace receivers on loopback (HTTP/protobuf and gRPC), decoding what the exporter sent
with the protocol's own protobuf definitions (``opentelemetry-proto``)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from enlarger import tracing
from tests.live import wait_for


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent: str  # the parent's span id; "" for a root
    kind: int  # SpanKind of the protocol: 1 internal, 2 server, 3 client
    status: int  # 0 unset, 1 ok, 2 error
    attributes: dict[str, Any]
    events: tuple[str, ...]
    service: str


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Receiver:
    """Every span received so far, decoded."""

    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def take(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    decoded.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.kind,
                            s.status.code,
                            {a.key: _value(a.value) for a in s.attributes},
                            tuple(e.name for e in s.events),
                            str(resource.get("service.name")),
                        )
                    )
        with self.lock:
            self.spans.extend(decoded)
            self.requests += 1

    def roots(self, name: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name]

    def tree(self, root: Span) -> dict[str, list[Span]]:
        """Every span of ``root``'s trace below it, by parent span id."""
        with self.lock:
            spans = [s for s in self.spans if s.trace_id == root.trace_id]
        children: dict[str, list[Span]] = {}
        for s in spans:
            children.setdefault(s.parent, []).append(s)
        return children

    def wait_for_root(self, name: str, count: int = 1) -> list[Span]:
        """The first ``count`` spans named ``name`` (exporting them first: the server span ends
        just after the response is sent, so it may still be open when the client has its answer)."""

        def arrived() -> bool:
            tracing.flush()
            return len(self.roots(name)) >= count

        wait_for(arrived)
        return self.roots(name)[:count]


@contextmanager
def http_receiver() -> Iterator[tuple[Receiver, str]]:
    """An OTLP/HTTP receiver; yields it and its base URL (the exporter appends ``/v1/traces``)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                self.send_error(404)
                return
            receiver.take(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver() -> Iterator[tuple[Receiver, str]]:
    """An OTLP/gRPC receiver (the TraceService of the protocol); yields it and its endpoint."""
    receiver = Receiver()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(  # noqa: N802 — the protocol's method name
            self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            receiver.take(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
