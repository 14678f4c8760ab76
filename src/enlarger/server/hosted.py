"""What the images API, direct uploads and delivery share for the life of the server.

Delivery needs four catalog answers per request (account, image, variant, signing keys). They
are fetched in one worker-thread hop and remembered for ``catalog_cache_seconds``, so a cache
hit costs no database round trip; any change made through this replica's API forgets them at
once, and other replicas' changes are seen within that time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.requests import Request

from enlarger.catalog.store import Account, Image, Variant
from enlarger.hosting import Hosting
from enlarger.security.fetch import Fetcher
from enlarger.server.api_envelope import Delivery, run
from enlarger.server.purge import PurgeIndex
from enlarger.usage import Usage

_REMEMBERED = 10_000


@dataclass(frozen=True)
class Target:
    """Everything the catalog says about one delivery URL."""

    account: Account
    image: Image
    variant: Variant | None  # None for flexible variants (options in the URL)
    keys: tuple[str, ...]  # signing key values, only fetched when the image requires signatures


@dataclass
class Hosted:
    hosting: Hosting
    fetcher: Fetcher
    purge: PurgeIndex
    _targets: OrderedDict[tuple[str, str, str], tuple[float, Target]] = field(default_factory=OrderedDict)
    _generation: int = 0  # bumped by forget(): lookups started before it are not remembered
    usage: Usage = field(init=False)  # usage accounting (issue 17)

    def __post_init__(self) -> None:
        self.usage = Usage(self.hosting.catalog, self.hosting.settings)

    def base_url(self, request: Request) -> str:
        """Where clients reach us: the configured public URL, else this request's scheme and host."""
        configured = self.hosting.settings.public_url
        return (configured or str(request.base_url)).rstrip("/")

    async def delivery(self, request: Request, account: Account) -> Delivery:
        variants = await run(self.hosting.catalog.variants, account.id)
        return Delivery(self.base_url(request), account.hash, tuple(v.id for v in variants))

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

    def forget(self) -> None:
        """Something changed through the API: look everything up afresh."""
        self._generation += 1
        self._targets.clear()

    def _look_up(self, account_hash: str, image_id: str, name: str) -> Target:
        catalog = self.hosting.catalog
        account = catalog.account_by_hash(account_hash)
        image = catalog.image(account.id, image_id)
        variant = None if "=" in name else catalog.variant(account.id, name)
        keys = tuple(k.value for k in catalog.keys(account.id)) if image.require_signed else ()
        return Target(account, image, variant, keys)
