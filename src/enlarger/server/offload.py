"""Catalog and storage calls block; the event loop hands them to a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


async def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a worker thread, awaited."""
    return await anyio.to_thread.run_sync(function, *args)
