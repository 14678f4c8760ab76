"""Storage calls on threads of their own, bounded, so a hung storage cannot starve anything else.

Catalog lookups, cache reads and storage calls all block and are handed to worker threads. When
they shared one pool, an S3 that stopped answering held every thread with uploads waiting on it,
and this node's cache hits queued behind them (issue 25). Storage calls (uploads, original reads,
deletions) now hold at most ``storage_concurrency`` threads; the rest of them wait without a
thread, and a hit never waits for storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

T = TypeVar("T")


class StoragePool(Collector):
    """A capacity limit for storage calls; ``/metrics`` shows how many are running or waiting."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pending = 0
        self._limiter: anyio.CapacityLimiter | None = None  # made on the event loop, at first use

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on one of the storage threads, awaited."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
        finally:
            self.pending -= 1

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "enlarger_storage_calls", "Storage calls running or waiting for a storage thread", value=self.pending
        )
