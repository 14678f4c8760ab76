"""Prometheus metrics of one server instance (its own registry, so tests and apps don't mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every series the server exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "enlarger_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "enlarger_request_seconds", "HTTP request latency by route", ["route"], buckets=_LATENCY, registry=r
        )
        self.transform_seconds = Histogram(
            "enlarger_transform_seconds", "Time spent transforming (cache misses)", buckets=_LATENCY, registry=r
        )
        self.cache_hits = Counter("enlarger_cache_hits", "Responses served from the output cache", registry=r)
        self.cache_misses = Counter("enlarger_cache_misses", "Responses that needed a transformation", registry=r)
        self.cache_bytes = Gauge("enlarger_cache_bytes", "Bytes held by the output cache", registry=r)
        self.queue_depth = Gauge("enlarger_queue_depth", "Transformations waiting for a worker", registry=r)
        self.in_flight = Gauge(
            "enlarger_transforms_in_flight", "Transformations admitted (running or queued)", registry=r
        )
        self.rejected = Counter("enlarger_rejected", "Requests refused with 503 because of overload", registry=r)
        self.origin_errors = Counter(
            "enlarger_origin_fetch_errors", "Failed source fetches by error code", ["code"], registry=r
        )
        self.coalesced = Counter(
            "enlarger_coalesced", "Requests that waited for an identical in-flight transformation", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
