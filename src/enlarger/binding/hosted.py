"""``images.hosted``: the binding's hosted-image operations on the HTTP API's catalog and storage.

Same rules as the images API (ids, metadata size, quotas, direct-upload expiry, the durability
order of :class:`~enlarger.hosting.Hosting`); records have the API's shape (``Delivery.record``).
Catalog calls are blocking, so each runs through ``run`` (a worker thread by default).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from enlarger.catalog.store import Image, now
from enlarger.catalog.store import _token_of as token_of  # the cursor's spelling is the catalog's
from enlarger.errors import NotFoundError, RequestError
from enlarger.hosting import Hosting, NewImage, check_metadata, direct_upload_expiry
from enlarger.security.signing import sign_url
from enlarger.server.records import ImageRecords

T = TypeVar("T")


class Runner(Protocol):
    """Runs blocking work off the event loop (a thread, or the server's admission control)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


MAX_LIST = 10_000  #: how far a filtered listing scans, as Cloudflare's v2 listing (≤ 10,000 in all)
_FILTER_OPS = ("eq", "in", "gt", "gte", "lt", "lte")


class HostedImages:
    """Hosted images of one account (``upload``, ``list``, ``create_direct_upload``, ``image(id)``)."""

    def __init__(self, hosting: Hosting, account_id: str, run: Runner, base_url: str) -> None:
        self._hosting = hosting
        self._account_id = account_id
        self._run = run
        self._base_url = base_url.rstrip("/")

    async def _delivery(self) -> ImageRecords:
        catalog = self._hosting.catalog
        account = await self._run(lambda: catalog.account(self._account_id))
        variants = await self._run(lambda: catalog.variants(self._account_id))
        return ImageRecords(self._base_url, account.hash, tuple(v.id for v in variants))

    async def _record(self, image: Image) -> dict[str, Any]:
        return (await self._delivery()).record(image)

    async def upload(
        self,
        data: bytes,
        *,
        id: str | None = None,
        filename: str = "",
        require_signed_urls: bool = False,
        metadata: Mapping[str, Any] | None = None,
        creator: str | None = None,
    ) -> dict[str, Any]:
        """Store ``data`` (checked like an API upload) and return its record."""
        new = NewImage(id, filename, creator, _meta(metadata), require_signed_urls)
        image = await self._run(lambda: self._hosting.upload(self._account_id, data, new))
        return await self._record(image)

    async def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        sort_order: str = "desc",
        creator: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{images, cursor, listComplete}``: a page of at most ``limit`` (1–10,000) images in upload order.

        ``creator`` keeps one creator's images; ``metadata`` filters on metadata fields (``{"f": v}`` or
        ``{"f": {"eq"|"in"|"gt"|"gte"|"lt"|"lte": v}}``, all must hold). Filters scan at most
        10,000 images past the cursor, as Cloudflare's listing does.
        """
        if not 1 <= limit <= MAX_LIST:
            raise RequestError(f"limit must be between 1 and {MAX_LIST}, got {limit}")
        if sort_order not in ("asc", "desc"):
            raise RequestError(f"sortOrder must be asc or desc, got {sort_order!r}")
        check = _matcher(creator, metadata)
        catalog, scanned, token = self._hosting.catalog, 0, cursor
        found: list[Image] = []
        complete = False
        while len(found) < limit and scanned < MAX_LIST:
            size = min(1000, MAX_LIST - scanned)
            page = await self._run(partial(catalog.after, self._account_id, token, size, sort_order == "desc"))
            for image in page.images:
                scanned += 1
                token = token_of(image.seq)
                if not image.draft and check(image):
                    found.append(image)
                    if len(found) == limit:
                        break
            if len(found) < limit and page.continuation_token is None:
                complete = True
                break
        delivery = await self._delivery()
        result: dict[str, Any] = {"images": [delivery.record(i) for i in found], "listComplete": complete}
        if not complete:
            result["cursor"] = token
        return result

    async def create_direct_upload(
        self,
        *,
        id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        require_signed_urls: bool = False,
        creator: str | None = None,
        expires_in: int = 1800,
    ) -> dict[str, str]:
        """``{id, uploadURL}``: a one-time upload URL valid ``expires_in`` seconds (120–21,600)."""
        expires = direct_upload_expiry(now() + timedelta(seconds=expires_in))
        new = NewImage(id, "", creator, _meta(metadata), require_signed_urls)
        draft, secret = await self._run(
            lambda: self._hosting.reserve(account_id=self._account_id, new=new, expires=expires)
        )
        return {"id": draft.id, "uploadURL": f"{self._base_url}/upload/{secret}"}

    def image(self, image_id: str) -> HostedImage:
        """A handle on one image (nothing is read until a method is awaited)."""
        return HostedImage(self, image_id)


class HostedImage:
    """``hosted.image(id)``: details, bytes, update, delete, signed URL."""

    def __init__(self, owner: HostedImages, image_id: str) -> None:
        self._owner = owner
        self.id = image_id

    async def _row(self) -> Image | None:
        hosting, account = self._owner._hosting, self._owner._account_id
        try:
            return await self._owner._run(lambda: hosting.catalog.image(account, self.id))
        except NotFoundError:
            return None

    async def details(self) -> dict[str, Any] | None:
        """The image's record, or None when there is no such image."""
        row = await self._row()
        return None if row is None else await self._owner._record(row)

    async def bytes(self) -> bytes | None:
        """The original bytes, or None when there is no such image."""
        row = await self._row()
        if row is None:
            return None
        return await self._owner._run(lambda: self._owner._hosting.original(row))

    async def update(
        self,
        *,
        require_signed_urls: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        creator: str | None = None,
    ) -> dict[str, Any]:
        """Change the flag, replace the metadata, set the creator; returns the new record."""
        changes: dict[str, Any] = {}
        if require_signed_urls is not None:
            changes["require_signed"] = require_signed_urls
        if metadata is not None:
            changes["meta"] = _meta(metadata)
        if creator is not None:
            changes["creator"] = creator
        catalog, account = self._owner._hosting.catalog, self._owner._account_id
        row = await self._owner._run(lambda: catalog.update_image(account, self.id, changes))
        return await self._owner._record(row)

    async def delete(self) -> bool:
        """Delete the image (row, then blob); False when there was none."""
        try:
            await self._owner._run(lambda: self._owner._hosting.delete(self._owner._account_id, self.id))
        except NotFoundError:
            return False
        return True

    async def signed_url(self, *, variant: str, expires_in: int | None = None, key_name: str = "default") -> str:
        """A delivery URL for ``variant`` signed with the account key ``key_name`` (expiring after ``expires_in`` s)."""
        owner = self._owner
        catalog = owner._hosting.catalog
        keys = await owner._run(lambda: catalog.keys(owner._account_id))
        key = next((k.value for k in keys if k.name == key_name), None)
        if key is None:
            raise NotFoundError(f"no signing key named {key_name!r}")
        account = await owner._run(lambda: catalog.account(owner._account_id))
        path = f"/{account.hash}/{quote(self.id, safe='/')}/{quote(variant, safe='=,')}"
        expires = int(now().timestamp()) + expires_in if expires_in is not None else None
        return owner._base_url + sign_url(key, path, expires=expires)


def _meta(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if metadata is None else check_metadata(dict(metadata))


def _matcher(creator: str | None, metadata: Mapping[str, Any] | None) -> Callable[[Image], bool]:
    tests: list[Callable[[Image], bool]] = []
    if creator is not None:
        tests.append(lambda image: image.creator == creator)
    for name, condition in (metadata or {}).items():
        ops = condition if isinstance(condition, Mapping) else {"eq": condition}
        for op, expected in ops.items():
            if op not in _FILTER_OPS:
                raise RequestError(f"metadata filter {name!r}: unknown operator {op!r} (use {', '.join(_FILTER_OPS)})")
            if op == "in" and (not isinstance(expected, (list, tuple)) or len(expected) > 10):
                raise RequestError(f"metadata filter {name!r}: 'in' takes a list of at most 10 values")
            tests.append(_field_test(name, op, expected))
    return lambda image: all(test(image) for test in tests)


def _field_test(name: str, op: str, expected: Any) -> Callable[[Image], bool]:
    def test(image: Image) -> bool:
        value: Any = image.meta
        for part in name.split("."):  # nested fields: "a.b"
            if not isinstance(value, Mapping) or part not in value:
                return False
            value = value[part]
        if op == "eq":
            return bool(value == expected)
        if op == "in":
            return value in expected
        if not isinstance(value, (int, float)) or not isinstance(expected, (int, float)):
            return False
        return {"gt": value > expected, "gte": value >= expected, "lt": value < expected, "lte": value <= expected}[op]

    return test
