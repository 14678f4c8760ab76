"""The shared result tier: outputs one replica produced, kept in S3 for every other replica.

Consulted after the local disk cache and written after a production, so a miss on one replica
is a hit from another's work (imgproxy keeps this for its paid edition). Keyed like the disk
cache (the same content-derived key) and purged like it: each output is recorded under its
tags (``tags/<sha256 of tag>/<key>``) and a purge deletes what a tag names.

The tier is an optimisation, never a dependency: a read that fails or takes longer than
``result_timeout`` is a miss, a write happens in the background after the answer, and any
failure is logged, never answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Iterable

import anyio

from enlarger.cache import Entry
from enlarger.settings import Settings
from enlarger.storage.base import BlobMissingError
from enlarger.storage.s3 import S3Storage, S3Timeouts

logger = logging.getLogger("enlarger.results")


_ENTRIES = "entries/"


def _tag_dir(tag: str) -> str:
    return f"tags/{hashlib.sha256(tag.encode()).hexdigest()}/"


def _pack(entry: Entry) -> bytes:
    head = {"media_type": entry.media_type, "format": entry.format, "width": entry.width, "height": entry.height}
    return json.dumps(head).encode() + b"\n" + entry.body


def _unpack(data: bytes) -> Entry:
    head, body = data.split(b"\n", 1)
    meta = json.loads(head)
    return Entry(body, str(meta["media_type"]), str(meta["format"]), int(meta["width"]), int(meta["height"]))


class ResultTier:
    """Outputs in one S3 prefix (``result_s3_prefix`` of the originals' bucket, or ``result_s3_bucket``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.result_timeout
        self._store = S3Storage(
            settings.result_s3_bucket or settings.s3_bucket,
            prefix=settings.result_s3_prefix,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            timeouts=S3Timeouts(settings.s3_connect_timeout, settings.s3_read_timeout, 1, settings.storage_concurrency),
        )
        self._limiter: anyio.CapacityLimiter | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def _call(self, timeout: float, function: Callable[..., object], *args: object) -> object:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.settings.storage_concurrency)
        with anyio.fail_after(timeout):  # past it the thread is abandoned, not awaited
            return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter, abandon_on_cancel=True)

    async def get(self, key: str) -> Entry | None:
        """The output stored under ``key`` by any replica, or None (absent, slow or failing)."""
        try:
            data = await self._call(self.timeout, self._store.get, _ENTRIES + key)
            assert isinstance(data, bytes)
            return _unpack(data)
        except BlobMissingError:
            return None
        except Exception as error:  # noqa: BLE001 — whatever the tier does, the request goes on without it
            logger.warning("result tier read of %s failed: %r", key, error)
            return None

    def put_later(self, key: str, entry: Entry, tags: Iterable[str]) -> None:
        """Store ``entry`` in the background (the answer never waits for the tier)."""
        task = asyncio.get_running_loop().create_task(self._put(key, entry, tuple(tags)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _put(self, key: str, entry: Entry, tags: tuple[str, ...]) -> None:
        """Tags first, then the entry: an entry anyone can find is always one a purge finds too."""
        bound = self.settings.s3_read_timeout * 2
        try:
            for tag in tags:
                await self._call(bound, self._store.put, _tag_dir(tag) + key, b"")
            await self._call(bound, self._store.put, _ENTRIES + key, _pack(entry))
        except Exception as error:  # noqa: BLE001
            logger.warning("result tier write of %s failed: %r", key, error)

    def purge(self, tag: str) -> int:
        """Delete every output recorded under ``tag`` (blocking: callers run it on a thread)."""
        directory = _tag_dir(tag)
        keys = [blob.key.removeprefix(directory) for blob in self._store.list(directory)]
        for key in keys:
            self._store.delete(_ENTRIES + key)
            self._store.delete(directory + key)
        return len(keys)
