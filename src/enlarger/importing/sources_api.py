"""Another Images API as an import source: Cloudflare Images itself, or another Enlarger.

The listing is ``GET /accounts/{account}/images/v2`` (oldest first, by continuation token, which
is also the listing cursor); the bytes are ``GET .../images/v1/{id}/blob``. Image IDs (UUIDs
included: they are the source's own, kept so that delivery URLs only change host), metadata,
creator and ``requireSignedURLs`` are carried over; drafts (never uploaded) are left out. The
token comes from ``import_api_token`` (``ENLARGER_IMPORT_API_TOKEN``) and is sent only to the
source's own host. Optionally the account's variants are copied too.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from enlarger.errors import OriginError, RequestError
from enlarger.importing.jobs import Item, Listed
from enlarger.importing.listing import PAGE, ListingPage
from enlarger.security.fetch import Fetcher

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def _listed(record: dict[str, Any]) -> Listed:
    image_id = str(record.get("id", ""))
    spec: dict[str, Any] = {
        "filename": record.get("filename") or "",
        "meta": record.get("meta") if isinstance(record.get("meta"), dict) else {},
        "creator": record.get("creator"),
        "requireSignedURLs": bool(record.get("requireSignedURLs", False)),
    }
    return Listed(image_id, None, image_id, spec, keep_uuid=bool(_UUID.match(image_id)))


class ApiSource:
    def __init__(self, config: dict[str, Any], token: str, fetcher: Fetcher, max_bytes: int) -> None:
        if not token:
            raise RequestError("an images-api source needs a token: set ENLARGER_IMPORT_API_TOKEN (import_api_token)")
        self.root = f"{config['base']}/accounts/{quote(config['account'], safe='')}/images"
        self.copy_variants = bool(config.get("variants"))
        self.fetcher = fetcher
        self.max_bytes = max_bytes
        self._headers = [(b"Authorization", f"Bearer {token}".encode("latin-1"))]

    async def _json(self, url: str) -> dict[str, Any]:
        fetched = await self.fetcher.fetch(url, headers=self._headers)
        try:
            body = json.loads(fetched.data)
        except ValueError as exc:
            raise OriginError(f"the source API answered {url} with something that is not JSON") from exc
        if not isinstance(body, dict) or not body.get("success") or not isinstance(body.get("result"), dict):
            errors = body.get("errors") if isinstance(body, dict) else None
            raise OriginError(f"the source API refused {url}: {errors}", code=9408, status=408)
        result: dict[str, Any] = body["result"]
        return result

    async def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        while True:
            url = f"{self.root}/v2?per_page={PAGE}&sort_order=asc"
            if cursor:
                url += f"&continuation_token={quote(cursor, safe='')}"
            result = await self._json(url)
            records = [r for r in result.get("images") or [] if isinstance(r, dict) and not r.get("draft")]
            token = result.get("continuation_token") or None
            yield ListingPage([_listed(r) for r in records], token, last=token is None)
            if token is None:
                return
            cursor = token

    async def variants(self) -> list[dict[str, Any]]:
        """The source account's variants: ``{"id", "options", "neverRequireSignedURLs"}`` each."""
        found = (await self._json(f"{self.root}/v1/variants")).get("variants") or {}
        return [v for v in found.values() if isinstance(v, dict)] if isinstance(found, dict) else []

    async def read(self, item: Item) -> bytes:
        url = f"{self.root}/v1/{quote(item.key, safe='/')}/blob"
        fetched = await self.fetcher.fetch(url, headers=self._headers, max_bytes=self.max_bytes)
        return fetched.data

    async def aclose(self) -> None:
        return None
