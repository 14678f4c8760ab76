"""``draw=`` on the URL front doors: the overlay located before the serving core runs, read on a miss.

The overlay's identity joins the recipe (so a changed overlay is a different output) and its
bytes are read with the base's, before admission, by the producer made here; the engine then
gets one :class:`~enlarger.job.Job` (:mod:`enlarger.url_overlay`). Where the overlay
may come from is the caller's ``locate``: sources' rules on ``/cdn-cgi/image``, the account's
hosted images on delivery.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from enlarger import url_overlay
from enlarger.cache import Entry
from enlarger.pipeline import transform_job
from enlarger.server.outputs import OutputRequest, Producer, Work
from enlarger.settings import Settings
from enlarger.sources import Located


def _producer(overlay: Located) -> Producer:
    async def produce(output: OutputRequest, accept: str | None, settings: Settings) -> Work:
        base, mark = await output.located.read(), await overlay.read()

        def work() -> Entry:
            job = url_overlay.job(base, output.options, mark)
            result = transform_job(
                job,
                accept=accept,
                settings=settings,
                timeout=settings.transform_timeout,
                source_id=output.located.identity,
            )
            return Entry(result.data, result.media_type, result.format, result.width, result.height)

        return work

    return produce


async def with_overlay(
    output: OutputRequest, locate: Callable[[str], Awaitable[Located]], tags: tuple[str, ...] = ()
) -> OutputRequest:
    """``output``, drawing the overlay its options name (unchanged when they name none)."""
    source = url_overlay.source(output.options)
    if source is None:
        return output
    overlay = await locate(source)
    recipe = f"{output.options.canonical()}|draw:{overlay.identity}"
    return dataclasses.replace(output, produce=_producer(overlay), recipe=recipe, tags=output.tags + tags)
