"""Prometheus metrics of one server instance (its own registry, so tests and apps don't mix).

With several server processes (``enlarger serve --processes N``) the supervisor gives each
worker the same ``PROMETHEUS_MULTIPROC_DIR`` before it starts, so prometheus_client keeps every
value in a per-process file there, and whichever process answers ``/metrics`` reports the sum
over all of them: counters and histograms add up (a dead worker's counts stay counted), gauges
are the sum over the live processes. The scrape-time figures of :class:`_Inference` (resident
memory, models) are the answering process's own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from enlarger import decode_cache
from enlarger.models import runtime
from enlarger.source_cache import Tally

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when it is first imported
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Inference(Collector):
    """The models' memory report and run times (:mod:`enlarger.models.runtime`), read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        memory = runtime.memory()
        yield GaugeMetricFamily(
            "enlarger_process_rss_bytes", "Resident memory of the process", value=int(str(memory["process_rss_bytes"]))
        )
        yield GaugeMetricFamily(
            "enlarger_models_loaded", "Model sessions loaded", value=int(str(memory["models_loaded"]))
        )
        yield GaugeMetricFamily(
            "enlarger_model_file_bytes", "Size of the loaded model files", value=int(str(memory["model_file_bytes"]))
        )
        runs = CounterMetricFamily("enlarger_model_runs", "Model runs by model file", labels=["model"])
        seconds = CounterMetricFamily("enlarger_model_seconds", "Time spent in model runs", labels=["model"])
        for name, (count, total) in sorted(runtime.latency().items()):
            runs.add_metric([name], count)
            seconds.add_metric([name], total)
        yield runs
        yield seconds


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
        self.cache_bytes = Gauge(
            "enlarger_cache_bytes", "Bytes held by the output cache", registry=r, multiprocess_mode="livesum"
        )
        self.queue_depth = Gauge(
            "enlarger_queue_depth", "Transformations waiting for a worker", registry=r, multiprocess_mode="livesum"
        )
        self.in_flight = Gauge(
            "enlarger_transforms_in_flight",
            "Transformations admitted (running or queued)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rejected = Counter("enlarger_rejected", "Requests refused with 503 because of overload", registry=r)
        self.origin_errors = Counter(
            "enlarger_origin_fetch_errors", "Failed source fetches by error code", ["code"], registry=r
        )
        self.coalesced = Counter(
            "enlarger_coalesced", "Requests that waited for an identical in-flight transformation", registry=r
        )
        self.source_cache = Tally(  # issue 26: remote originals kept on disk (enlarger.source_cache)
            hits=Counter("enlarger_source_cache_hits", "Source reads served from the source cache", registry=r),
            misses=Counter(
                "enlarger_source_cache_misses", "Source bodies downloaded from the origin (and cached)", registry=r
            ),
            revalidations=Counter(
                "enlarger_source_cache_revalidations", "Source revalidations the origin answered 304", registry=r
            ),
            evictions=Counter("enlarger_source_cache_evictions", "Sources evicted to stay in the bound", registry=r),
            stored_bytes=Gauge(
                "enlarger_source_cache_bytes", "Bytes held by the source cache", registry=r, multiprocess_mode="livesum"
            ),
        )
        self.decode_hits = Counter(
            "enlarger_decode_cache_hits", "Outputs made from a decoded copy of their source in memory", registry=r
        )
        self.decode_misses = Counter(
            "enlarger_decode_cache_misses",
            "Outputs a decoded copy could have served that decoded their source (directly or into a new copy)",
            registry=r,
        )
        self.decode_copies = Counter("enlarger_decode_cache_copies", "Decoded copies of sources made", registry=r)
        self.decode_bytes = Gauge(
            "enlarger_decode_cache_bytes",
            "Bytes of decoded source copies held in memory",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._decode_counted = decode_cache.CACHE.stats()  # what the process counted before this server
        self._decode_lock = threading.Lock()
        r.register(_Inference())
        self._shared = os.environ.get(MULTIPROCESS_DIR)

    def count_decodes(self) -> None:
        """Bring the decoded-copy cache's series up to date with the process's cache
        (:data:`enlarger.decode_cache.CACHE`, which the engine counts in): called after each
        transformation and before each scrape, so the counts add up over processes like the others."""
        now = decode_cache.CACHE.stats()
        with self._decode_lock:
            before, self._decode_counted = self._decode_counted, now
        restarted = now.hits < before.hits or now.misses < before.misses or now.copies < before.copies  # cleared
        if restarted:
            before = decode_cache.Stats(0, 0, 0, 0, 0)
        self.decode_hits.inc(now.hits - before.hits)
        self.decode_misses.inc(now.misses - before.misses)
        self.decode_copies.inc(now.copies - before.copies)
        self.decode_bytes.set(now.bytes)

    def render(self) -> bytes:
        self.count_decodes()
        if self._shared is None:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, self._shared)  # type: ignore[no-untyped-call]
        combined.register(_Inference())
        return generate_latest(combined)
