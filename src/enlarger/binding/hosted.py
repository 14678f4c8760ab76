"""``images.hosted``: the binding's hosted-image operations on the HTTP API's catalog and storage.

Same rules as the images API (ids, metadata size, quotas, direct-upload expiry, the durability
order of :class:`~enlarger.hosting.Hosting`); records have the API's shape (``Delivery.record``).
Catalog calls are blocking, so each runs through ``run`` (a worker thread by default).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from enlarger.catalog.filters import ImageFilter, parse_meta_filters
from enlarger.catalog.store import Image, now
from enlarger.errors import NotFoundError, RequestError
from enlarger.hosting import Hosting, ImageChanges, NewImage, direct_upload_expiry
from enlarger.records import ImageRecords
from enlarger.security.signing import sign_url

T = TypeVar("T")


class Offload(Protocol):
    """Runs blocking work off the event loop (a thread, or the server's admission control)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


MAX_LIST = 10_000  #: the largest page ``list`` returns


class DirectChanges:
    """The mutation path of a binding outside the server: :class:`Hosting` itself, off the event loop.

    There is no output cache or remembered lookup to invalidate here; inside the server the binding
    is given ``HostingService`` instead, which forgets and purges (:class:`~enlarger.hosting.ImageChanges`).
    """

    def __init__(self, hosting: Hosting, run: Offload) -> None:
        self._hosting = hosting
        self._run = run

    async def upload(self, account_id: str, data: bytes, new: NewImage) -> Image:
        return await self._run(lambda: self._hosting.upload(account_id, data, new))

    async def reserve(self, account_id: str, new: NewImage, expires: datetime) -> tuple[Image, str]:
        return await self._run(lambda: self._hosting.reserve(account_id=account_id, new=new, expires=expires))

    async def edit_image(self, account_id: str, image_id: str, changes: Mapping[str, object]) -> Image:
        return await self._run(lambda: self._hosting.edit_image(account_id, image_id, changes))

    async def delete_image(self, account_id: str, image_id: str) -> None:
        await self._run(lambda: self._hosting.delete(account_id, image_id))


class HostedImages:
    """Hosted images of one account (``upload``, ``list``, ``create_direct_upload``, ``image(id)``)."""

    def __init__(
        self, hosting: Hosting, account_id: str, run: Offload, base_url: str, changes: ImageChanges | None = None
    ) -> None:
        self._hosting = hosting
        self._account_id = account_id
        self._run = run
        self._base_url = base_url.rstrip("/")
        self._changes = changes or DirectChanges(hosting, run)

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
        image = await self._changes.upload(self._account_id, data, new)
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

        ``creator`` keeps one creator's images (``""``: those without one); ``metadata`` filters on
        metadata fields as the API's v2 listing does (``{"f": v}`` or ``{"f": {op: v}}`` with the
        operators of ``meta.f[op]=v``, e.g. ``eq``, ``in``, ``gt``, ``eq:string``; all must hold).
        A value matches as its text would in the API: ``{"n": 5}`` finds ``"5"`` and ``5``.
        """
        if not 1 <= limit <= MAX_LIST:
            raise RequestError(f"limit must be between 1 and {MAX_LIST}, got {limit}")
        if sort_order not in ("asc", "desc"):
            raise RequestError(f"sortOrder must be asc or desc, got {sort_order!r}")
        where = ImageFilter(creator, parse_meta_filters(_query(metadata or {})))
        catalog, account = self._hosting.catalog, self._account_id
        page = await self._run(lambda: catalog.after(account, cursor, limit, sort_order == "desc", where))
        delivery = await self._delivery()
        result: dict[str, Any] = {
            "images": [delivery.record(i) for i in page.images],
            "listComplete": page.continuation_token is None,
        }
        if page.continuation_token is not None:
            result["cursor"] = page.continuation_token
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
        draft, secret = await self._changes.reserve(self._account_id, new, expires)
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
        """Change the flag, replace the metadata, set the creator (the API's rules); returns the new record."""
        changes: dict[str, object] = {}
        if require_signed_urls is not None:
            changes["require_signed"] = require_signed_urls
        if metadata is not None:
            changes["meta"] = dict(metadata)
        if creator is not None:
            changes["creator"] = creator
        row = await self._owner._changes.edit_image(self._owner._account_id, self.id, changes)
        return await self._owner._record(row)

    async def delete(self) -> bool:
        """Delete the image (row, then blob); False when there was none."""
        try:
            await self._owner._changes.delete_image(self._owner._account_id, self.id)
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
    return None if metadata is None else dict(metadata)


def _query(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``metadata`` filters as the v2 listing's query (``meta.f[op]=text``), so both parse them alike."""
    query: list[tuple[str, str]] = []
    for name, condition in metadata.items():
        for op, value in (condition if isinstance(condition, Mapping) else {"eq": condition}).items():
            text = "|".join(map(_text, value)) if isinstance(value, (list, tuple)) else _text(value)
            query.append((f"meta.{name}[{op}]", text))
    return query


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise RequestError(f"a metadata filter value is a string, a number or a boolean, not {value!r}")
