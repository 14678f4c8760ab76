"""Driving the binding's coroutines from synchronous tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """``coro``'s result, on a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())
