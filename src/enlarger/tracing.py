"""OpenTelemetry traces: off unless the standard ``OTEL_*`` variables ask for them.

Tracing is switched on by :func:`configure` (called once per server process, by ``create_app``)
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its ``_TRACES_`` form) is set or ``OTEL_TRACES_EXPORTER``
names ``otlp``; ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` keep it off. Every
other standard variable (service name, resource attributes, sampler, headers, timeouts,
compression, certificates, batch sizes, propagators) is read by the SDK itself.

When it is off nothing of the SDK is imported, and every call here is one check of the
module-level :data:`ENABLED` flag: :func:`span` hands back a shared no-op context manager. A
cache hit must cost the same with the package installed and unconfigured as without it.
Callers that would build attributes check :data:`ENABLED` first, so an untraced request
builds nothing.

Spans follow the code, not the HTTP layer: this module knows nothing about requests (the server
span is opened by :mod:`enlarger.server.request_context`); the engine, the cache, the fetcher,
the models, the catalog and the storage open their own children with :func:`span`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableSequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from enlarger.settings import SettingsError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

#: Whether spans are recorded (set by :func:`configure`); read it before building attributes
ENABLED = False
#: The OTLP protocols this build can export with (``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL``)
PROTOCOLS = ("http/protobuf", "grpc")
SERVICE_NAME = "enlarger"  # unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one

Attributes = Mapping[str, str | int | float | bool]

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


class TracingConfigError(SettingsError):
    """``OTEL_*`` asks for something this installation cannot do (a protocol, a missing package);
    ``enlarger serve`` reports it like a bad setting and does not start."""


class _Noop(AbstractContextManager["_Noop"]):
    """What :func:`span` returns when tracing is off or the request was not sampled: entering and
    leaving it does nothing, and it takes attributes like a span and drops them."""

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: object) -> None:
        return None

    def set_attributes(self, attributes: Attributes) -> None:
        return None


_NOOP = _Noop()


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` asks for traces (the rule in the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()}
    if "none" in exporters:
        return False
    if "otlp" in exporters:
        return True
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def protocol(environ: Mapping[str, str]) -> str:
    """The OTLP protocol to export with; ``http/protobuf`` is the specification's default."""
    chosen = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    chosen = (chosen or "http/protobuf").strip().lower()
    if chosen not in PROTOCOLS:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={chosen!r} is not supported; use one of {PROTOCOLS}")
    return chosen


def configure() -> bool:
    """Switch tracing on or off for this process from the environment (the exporter and the SDK
    read their own variables from it too).

    Called again (a second app in the same process, as in the tests) it replaces the previous
    provider, flushing what that one held. Returns whether tracing is on.
    """
    global ENABLED
    environ = os.environ
    shutdown()
    if not wanted(environ):
        return False
    chosen = protocol(environ)
    try:
        _start(chosen)
    except ImportError as exc:  # asked for, but not installed: say how, rather than trace nothing
        raise TracingConfigError(
            f"OTEL_* asks for traces but {exc.name or 'OpenTelemetry'} is not installed: pip install 'enlarger[otel]'"
        ) from exc
    ENABLED = True
    return True


def _start(chosen: str) -> None:
    global _tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    exporter: SpanExporter
    if chosen == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter()
    _provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    _provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* tune the batches
    _tracer = _provider.get_tracer("enlarger")


def flush() -> None:
    """Export every finished span now (tests; shutdown)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    """Flush and stop the exporter; tracing is off afterwards."""
    global ENABLED, _tracer, _provider
    provider, _provider, _tracer, ENABLED = _provider, None, None, False
    if provider is not None:
        provider.shutdown()


def span(name: str, attributes: Attributes | None = None, *, client: bool = False) -> AbstractContextManager[Any]:
    """A child span of the current one for the ``with`` block (records an escaping exception).

    ``client`` marks an outgoing call (its context is what :func:`inject` sends on). Off, or
    under a span the sampler dropped, the shared no-op: with ``traceidratio`` sampling most
    requests are dropped, and their children should cost what untraced ones do.
    """
    if not ENABLED or _unsampled():
        return _NOOP
    assert _tracer is not None
    from opentelemetry.trace import SpanKind

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    return _tracer.start_as_current_span(name, kind=kind, attributes=attributes)


def server_span(name: str, carrier: Mapping[str, str], attributes: Attributes) -> AbstractContextManager[Span]:
    """The span of one incoming request, continuing the trace its ``traceparent`` names."""
    assert _tracer is not None
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    parent = propagate.extract(carrier)
    return _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes, record_exception=False
    )


def recording() -> bool:
    """Whether the current span records (call it after :data:`ENABLED`, before building attributes
    for :func:`annotate`: most requests of a sampled server are not recorded)."""
    from opentelemetry import trace

    return ENABLED and trace.get_current_span().is_recording()


def annotate(attributes: Attributes) -> None:
    """Add ``attributes`` to the current span (check :func:`recording` before building them)."""
    if ENABLED:
        from opentelemetry import trace

        trace.get_current_span().set_attributes(attributes)


def record(name: str, start_ns: int, end_ns: int, attributes: Attributes | None = None) -> None:
    """A finished child span from timestamps taken already: a pipeline step is known to have run
    only once it returns (a step whose option is absent does nothing and gets no span)."""
    if ENABLED and not _unsampled():
        assert _tracer is not None
        _tracer.start_span(name, start_time=start_ns, attributes=attributes).end(end_time=end_ns)


def _unsampled() -> bool:
    """Whether the current span exists and was dropped by the sampler (its children would be too)."""
    from opentelemetry import trace

    current = trace.get_current_span()
    return not current.is_recording() and current.get_span_context().is_valid


def inject(headers: MutableSequence[tuple[bytes, bytes]]) -> None:
    """Append the current trace context (``traceparent``, ``tracestate``) to outgoing ``headers``."""
    if ENABLED:
        from opentelemetry import propagate

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        headers.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in carrier.items())


def ids() -> tuple[str, str]:
    """The current trace and span id in hex (empty when there is no recording span)."""
    if not ENABLED:
        return "", ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
