"""The hosting side of the server: catalog, storage and fetcher, and what changes must invalidate.

Delivery needs four catalog answers per request (account, image, variant, signing keys). They
are fetched in one worker-thread hop and remembered for ``catalog_cache_seconds``, so a cache
hit costs no database round trip. Every change made through this replica goes through one of
the mutation methods below, which forget those answers at once and purge the cached outputs of
what changed; other replicas' changes are seen within ``catalog_cache_seconds``.

Creations (upload, direct upload, a new variant) need no forgetting: a lookup that found
nothing is never remembered.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request

from enlarger.catalog.store import Account, Image, SigningKey, Variant
from enlarger.hosting import Hosting, NewImage
from enlarger.records import ImageRecords
from enlarger.security.fetch import Fetcher
from enlarger.server.offload import run
from enlarger.server.purge import PurgeIndex, image_tag, variant_tag
from enlarger.server.purge_webhook import PurgeWebhook
from enlarger.server.result_tier import ResultTier
from enlarger.server.storage_pool import StoragePool
from enlarger.source_cache import Head, SourceCache
from enlarger.usage import Usage

_REMEMBERED = 10_000
logger = logging.getLogger("enlarger.server")


@dataclass(frozen=True)
class Target:
    """Everything the catalog says about one delivery URL."""

    account: Account
    image: Image
    variant: Variant | None  # None for flexible variants (options in the URL)
    keys: tuple[str, ...]  # signing key values, only fetched when the image requires signatures


@dataclass
class HostingService:
    hosting: Hosting
    fetcher: Fetcher
    purge: PurgeIndex
    results: ResultTier | None = None  # the shared result tier, purged with the disk cache (issue 25)
    webhook: PurgeWebhook | None = None  # the operator's purge webhook (purge_webhook_url)
    originals: SourceCache | None = None  # S3-stored originals kept on local disk (issue 26); None: read every miss
    _targets: OrderedDict[tuple[str, str, str], tuple[float, Target]] = field(default_factory=OrderedDict)
    _generation: int = 0  # bumped by _changed(): lookups started before it are not remembered
    usage: Usage = field(init=False)  # usage accounting (issue 17)
    storage: StoragePool = field(init=False)  # storage calls' own threads (issue 25)

    def __post_init__(self) -> None:
        settings = self.hosting.settings
        self.usage = Usage(self.hosting.catalog, settings, flush_seconds=settings.usage_flush_seconds)
        self.storage = StoragePool(self.hosting.settings.storage_concurrency)

    def base_url(self, request: Request) -> str:
        """Where clients reach us: the configured public URL, else this request's scheme and host."""
        configured = self.hosting.settings.public_url
        return (configured or str(request.base_url)).rstrip("/")

    async def records(self, request: Request, account: Account) -> ImageRecords:
        """The formatter of ``account``'s image records, with delivery URLs as this request reaches us."""
        variants = await run(self.hosting.catalog.variants, account.id)
        return ImageRecords(self.base_url(request), account.hash, tuple(v.id for v in variants))

    async def original(self, image: Image) -> bytes:
        """The image's original bytes: from the source cache when the storage is remote (S3) and
        it holds them (keyed by account and image, checked against the content hash), else from
        the storage (then kept there)."""
        cache = self.originals
        if cache is None or not image.content_hash:
            return await self.storage.run(self.hosting.original, image)
        key = _original_key(image.account_id, image.id)
        data = await run(cache.get, key, image.content_hash)
        if data is None:
            data = await self.storage.run(self.hosting.original, image)
            cache.tally.misses.inc()
            await run(cache.put, key, Head(image.content_hash, None, None, len(data)), data)
        return data

    # --- delivery lookups
    async def target(self, account_hash: str, image_id: str, name: str) -> Target:
        """The catalog's answer for a delivery URL; NotFoundError for anything missing (not remembered)."""
        key = (account_hash, image_id, name)
        now = time.monotonic()
        remembered = self._targets.get(key)
        if remembered is not None and now - remembered[0] < self.hosting.settings.catalog_cache_seconds:
            return remembered[1]
        generation = self._generation
        found = await run(self._look_up, account_hash, image_id, name)
        if generation == self._generation:  # nothing changed while the catalog was asked
            self._targets[key] = (now, found)
            self._targets.move_to_end(key)
            if len(self._targets) > _REMEMBERED:
                self._targets.popitem(last=False)
        return found

    def _look_up(self, account_hash: str, image_id: str, name: str) -> Target:
        catalog = self.hosting.catalog
        account = catalog.account_by_hash(account_hash)
        image = catalog.image(account.id, image_id)
        variant = None if "=" in name else catalog.variant(account.id, name)
        keys = tuple(k.value for k in catalog.keys(account.id)) if image.require_signed else ()
        return Target(account, image, variant, keys)

    async def _changed(self, *tags: str, reason: str = "") -> None:
        """Something changed: look everything up afresh and drop the outputs made under ``tags``,
        here, on the other replicas (the purge log) and at the CDN (the webhook, told ``reason``)."""
        self._generation += 1
        self._targets.clear()
        for tag in tags:
            await run(self.purge.purge, tag)
            if self.results is not None:
                await self.storage.run(self._purge_results, self.results, tag)
        if tags:
            await run(self._log_purge, tags)
            if self.webhook is not None:
                self.webhook.notify(tags, reason)

    def _log_purge(self, tags: tuple[str, ...]) -> None:
        """For the other replicas (server/purge_log.py); a failing catalog is logged: the change is done."""
        try:
            self.hosting.catalog.log_purge(tags)
        except Exception:
            logger.warning("could not log the purge of %s for the other replicas", tags, exc_info=True)

    @staticmethod
    def _purge_results(results: ResultTier, tag: str) -> None:
        """A failing tier is logged: the change itself is done (its entries stay unreachable by key)."""
        try:
            results.purge(tag)
        except Exception:
            logger.warning("could not purge %s from the shared result tier", tag, exc_info=True)

    # --- creations
    async def upload(self, account_id: str, data: bytes, new: NewImage) -> Image:
        return await self.storage.run(self.hosting.upload, account_id, data, new)

    async def reserve(self, account_id: str, new: NewImage, expires: datetime) -> tuple[Image, str]:
        return await run(lambda: self.hosting.reserve(account_id=account_id, new=new, expires=expires))

    async def redeem(self, secret: str, data: bytes, filename: str) -> Image:
        return await self.storage.run(self.hosting.redeem, secret, data, filename)

    async def add_variant(self, account_id: str, variant: Variant) -> None:
        await run(self.hosting.catalog.add_variant, account_id, variant)

    # --- changes: each forgets the remembered lookups and purges what it touched
    async def update_account(self, account_id: str, changes: dict[str, Any]) -> Account:
        """Account settings (flexible variants, browser TTL) decide answers, not outputs: nothing to purge."""
        account = await run(self.hosting.catalog.update_account, account_id, changes)
        await self._changed()
        return account

    async def edit_image(self, account_id: str, image_id: str, changes: Mapping[str, object]) -> Image:
        """Checked by :meth:`Hosting.edit_image` (the rules every door shares)."""
        image = await run(self.hosting.edit_image, account_id, image_id, changes)
        await self._changed(image_tag(account_id, image_id), reason="image-changed")
        return image

    async def delete_image(self, account_id: str, image_id: str) -> None:
        await self.storage.run(self.hosting.delete, account_id, image_id)
        if self.originals is not None:  # another replica's copy goes by LRU (its lookups fail first)
            await run(self.originals.discard, _original_key(account_id, image_id))
        await self._changed(image_tag(account_id, image_id), reason="image-deleted")

    async def image_replaced(self, account_id: str, image_id: str) -> None:
        """Another writer of this process (a bulk import) replaced the image: forget and purge it."""
        await self._changed(image_tag(account_id, image_id), reason="image-replaced")

    async def edit_variant(self, account_id: str, variant: Variant) -> None:
        await run(self.hosting.catalog.update_variant, account_id, variant)
        await self._changed(variant_tag(account_id, variant.id), reason="variant-changed")

    async def delete_variant(self, account_id: str, variant_id: str) -> None:
        await run(self.hosting.catalog.delete_variant, account_id, variant_id)
        await self._changed(variant_tag(account_id, variant_id), reason="variant-deleted")

    async def set_flexible_variants(self, account_id: str, enabled: bool) -> Account:
        """Flexible variants on or off: deliveries remembered with the old setting must look again."""
        account = await run(self.hosting.catalog.set_flexible_variants, account_id, enabled)
        await self._changed()  # outputs are keyed by their options: none becomes wrong
        return account

    async def put_key(self, account_id: str, name: str) -> list[SigningKey]:
        keys = await run(self.hosting.catalog.put_key, account_id, name)
        await self._changed()  # signatures are checked per request; no output depends on a key
        return keys

    async def delete_key(self, account_id: str, name: str) -> list[SigningKey]:
        keys = await run(self.hosting.catalog.delete_key, account_id, name)
        await self._changed()
        return keys


def _original_key(account_id: str, image_id: str) -> str:
    """The source cache's key of a hosted original: one entry per image of an account (tenants apart)."""
    return f"hosted:{account_id}:{image_id}"
