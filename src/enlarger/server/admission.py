"""Bounded CPU work: a fixed pool of worker threads and a bounded queue in front of it.

Past ``workers + queue_size`` admitted jobs, new work is refused at once (503) instead of
piling up: latency for admitted requests stays bounded and memory cannot run away.
libvips releases the GIL while it computes, so threads use every core.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from enlarger.errors import OverloadedError
from enlarger.server.metrics import Metrics

T = TypeVar("T")


class Admission:
    def __init__(self, workers: int, queue_size: int, metrics: Metrics) -> None:
        self._workers = workers
        self._limit = workers + queue_size
        self._admitted = 0
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transform")

    @property
    def queued(self) -> int:
        return max(0, self._admitted - self._workers)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a worker thread, or raise :class:`OverloadedError` if the queue is full."""
        if self._admitted >= self._limit:
            self._metrics.rejected.inc()
            raise OverloadedError("the server is busy: every worker and queue slot is taken; retry shortly")
        self._admitted += 1
        self._publish()
        try:
            context = contextvars.copy_context()  # the request's trace span and ids follow it onto the worker
            return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, fn)
        finally:
            self._admitted -= 1
            self._publish()

    def _publish(self) -> None:
        self._metrics.in_flight.set(self._admitted)
        self._metrics.queue_depth.set(self.queued)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
