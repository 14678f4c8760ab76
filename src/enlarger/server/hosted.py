"""What the images API, direct uploads and delivery share for the life of the server."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from enlarger.catalog.store import Account
from enlarger.hosting import Hosting
from enlarger.security.fetch import Fetcher
from enlarger.server.api_envelope import Delivery, run
from enlarger.server.purge import PurgeIndex


@dataclass
class Hosted:
    hosting: Hosting
    fetcher: Fetcher
    purge: PurgeIndex

    def base_url(self, request: Request) -> str:
        """Where clients reach us: the configured public URL, else this request's scheme and host."""
        configured = self.hosting.settings.public_url
        return (configured or str(request.base_url)).rstrip("/")

    async def delivery(self, request: Request, account: Account) -> Delivery:
        variants = await run(self.hosting.catalog.variants, account.id)
        return Delivery(self.base_url(request), account.hash, tuple(v.id for v in variants))
