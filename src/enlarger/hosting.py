"""Hosted originals: validate an upload by its content, store the blob, then commit the row.

The order is the durability contract. The blob goes to storage first (durable when ``put``
returns), the catalog row is committed second, and only then is the upload acknowledged. A
crash between the two leaves a blob nobody references — invisible, and removed later by
:meth:`Hosting.collect_orphans` — never a row pointing at missing bytes. Deletion runs the
other way round: the row goes first, then the blob.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from enlarger import codecs
from enlarger.catalog.identity import catalog_id
from enlarger.catalog.store import Catalog, Image, now
from enlarger.errors import ConflictError, InputTooLargeError, NotFoundError, QuotaExceededError, RequestError
from enlarger.pipeline import image_placeholders, readable_input
from enlarger.security.nul import refuse_nul
from enlarger.settings import Settings
from enlarger.storage import ownership
from enlarger.storage.base import BlobMissingError, Storage

logger = logging.getLogger("enlarger.hosting")
MAX_METADATA_BYTES = 1024
MAX_ID_LENGTH = 1024
MAX_CREATOR_LENGTH = 1024
BROWSER_TTL_RANGE = (3600, 31_536_000)  # one hour to one year (browser-ttl.mdx)
DIRECT_UPLOAD_DEFAULT = timedelta(minutes=30)
DIRECT_UPLOAD_MIN = timedelta(minutes=2)
DIRECT_UPLOAD_MAX = timedelta(hours=6)
# <account id>/<uuid hex>, or a local write's temp file beside it (storage.local's prefix)
_BLOB_KEY = re.compile(r"^[0-9a-f]{32}/(?:[0-9a-f]{32}|\.partial-[A-Za-z0-9_]+)$")
_RESERVED = frozenset({"variants", "keys", "stats", "direct_upload", "config", "batch_token"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass(frozen=True)
class NewImage:
    """What a client asks for when uploading (or reserving a direct upload)."""

    id: str | None = None
    filename: str = ""
    creator: str | None = None
    meta: dict[str, Any] | None = None
    require_signed: bool = False


def check_image_id(image_id: str) -> str:
    """Custom IDs may be path-like but must stay addressable in delivery URLs: ``?`` and ``#`` would
    end the path; ``%`` is allowed and travels as ``%25`` (Cloudflare, upload-custom-path.mdx)."""
    refuse_nul(image_id, "the image id")
    parts = image_id.split("/")
    if not image_id or len(image_id) > MAX_ID_LENGTH:
        raise RequestError(f"image id must be 1–{MAX_ID_LENGTH} characters")
    bad_segment = any(part in ("", ".", "..") for part in parts)
    if bad_segment or any(ch in image_id for ch in "?#\\") or not image_id.isprintable():
        raise RequestError(
            f"invalid image id {image_id!r}: use letters, digits and - _ . / (no empty, '.' or '..' path segments)"
        )
    if parts[-1] == "blob" and len(parts) > 1:
        raise RequestError("a custom image id must not end in '/blob': the API uses that path")
    if parts[0] in _RESERVED:
        raise RequestError(f"a custom image id must not start with {parts[0]!r}: the API uses that path")
    if _UUID.match(image_id):
        raise RequestError("a custom image id must not be a UUID; UUIDs are reserved for generated ids")
    return image_id


def is_custom_id(image_id: str) -> bool:
    """Generated IDs are UUIDs and custom IDs never are (:func:`check_image_id` refuses them)."""
    return not _UUID.match(image_id)


def check_signing(image_id: str | None, require_signed: bool) -> None:
    """Cloudflare: "Images with custom ID paths cannot be made private using signed URL tokens"
    (upload-custom-path.mdx, direct-creator-upload.mdx)."""
    if require_signed and image_id is not None and is_custom_id(image_id):
        raise RequestError(
            "images with a custom ID cannot require signed URLs: upload without 'id' to get a private image"
        )


def check_creator(value: object) -> str | None:
    """The ``creator`` field: any text up to 1024 characters; empty means none (what ``creator=`` lists)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RequestError("creator must be a string")
    if len(value) > MAX_CREATOR_LENGTH or not value.isprintable():
        raise RequestError(f"creator must be printable text of at most {MAX_CREATOR_LENGTH} characters")
    return value


def check_browser_ttl(value: object) -> int:
    """A browser TTL in seconds, "an interval between one hour to one year" (browser-ttl.mdx)."""
    low, high = BROWSER_TTL_RANGE
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"browser_ttl must be a whole number of seconds, got {value!r}")
    if not low <= value <= high:
        raise RequestError(f"browser_ttl must be between {low} (one hour) and {high} (one year) seconds, got {value}")
    return value


def check_metadata(meta: object) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise RequestError("metadata must be a JSON object")
    refuse_nul(meta, "metadata")
    if len(json.dumps(meta, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise RequestError(f"metadata must not exceed {MAX_METADATA_BYTES} bytes")
    return meta


def check_new(new: NewImage, image_id: str | None = None) -> NewImage:
    """What a new image says about itself, checked, whoever brings it (an upload, a reservation, a
    direct upload, a bulk import from a source that never checked it): no NUL in any text (it is
    stored in the catalog: security/nul.py), a valid custom id (``image_id``, once chosen) that is
    not private, a printable creator, metadata within its size."""
    refuse_nul(new.filename, "the file name")
    refuse_nul(new.creator, "creator")  # said plainly, before check_creator's "printable text"
    if image_id is not None:
        refuse_nul(image_id, "the image id")  # a source's UUID too, which is not checked as a custom id
        if is_custom_id(image_id):
            check_image_id(image_id)
    check_signing(new.id if image_id is None else image_id, new.require_signed)
    meta = None if new.meta is None else check_metadata(new.meta)
    return replace(new, meta=meta, creator=check_creator(new.creator))


#: the fields an edit may change (``PATCH /images/v1/<id>``, ``hosted.image(id).update``), each with its check
_EDITABLE: dict[str, Callable[[object], object]] = {
    "meta": check_metadata,
    "creator": check_creator,
    "require_signed": lambda value: _flag(value, "requireSignedURLs"),
}


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be true or false, got {value!r}")
    return value


def check_edit(image_id: str, changes: Mapping[str, object]) -> dict[str, Any]:
    """An edit's changes (``meta``, ``creator``, ``require_signed``), checked by the rules every door shares."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    checked = {name: _EDITABLE[name](value) for name, value in changes.items()}
    if checked.get("require_signed"):
        check_signing(image_id, True)
    return checked


def direct_upload_expiry(requested: datetime | None) -> datetime:
    """The slot's expiry: 30 minutes by default; between 2 minutes and 6 hours from now."""
    moment = now()
    if requested is None:
        return moment + DIRECT_UPLOAD_DEFAULT
    if not moment + DIRECT_UPLOAD_MIN <= requested <= moment + DIRECT_UPLOAD_MAX:
        raise RequestError("expiry must be between 2 minutes and 6 hours from now")
    return requested


class ImageChanges(Protocol):
    """The one mutation path of hosted images, for every door.

    In the server it is ``HostingService``, which also forgets the remembered delivery lookups
    and purges the cached outputs of what changed; the binding outside a server (no output cache)
    runs :class:`Hosting` directly. The rules themselves are :class:`Hosting`'s either way.
    """

    async def upload(self, account_id: str, data: bytes, new: NewImage) -> Image: ...

    async def reserve(self, account_id: str, new: NewImage, expires: datetime) -> tuple[Image, str]: ...

    async def edit_image(self, account_id: str, image_id: str, changes: Mapping[str, object]) -> Image: ...

    async def delete_image(self, account_id: str, image_id: str) -> None: ...


class Hosting:
    """Uploads, edits, deletions and cleanup over one catalog and one storage backend."""

    def __init__(self, catalog: Catalog, storage: Storage, settings: Settings) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings

    def validated(self, account_id: str, data: bytes, new: NewImage, image_id: str) -> Image:
        """The row ``data`` would become, once it passed every check; nothing is stored yet.

        Public because bulk import stores the blob and commits the row itself (under its lease).
        """
        new = check_new(new, image_id)
        if len(data) > self.settings.max_upload_bytes:
            raise InputTooLargeError(
                f"the file is {len(data):,} bytes; uploads are limited to {self.settings.max_upload_bytes:,} bytes",
                code=5413,
                status=413,
            )
        # an SVG is checked through its sanitized form: nothing reads a stranger's SVG directly
        readable = readable_input(data, self.settings)  # sanitized and probed once (job.Readable)
        header = readable.header
        codecs.check_limits(header, self.settings, all_frames=True)
        # decode a small copy (shrink-on-load makes it cheap) so damage past the header is refused now,
        # not discovered by every later delivery; the same copy gives the record's placeholders
        marks = image_placeholders(readable, settings=self.settings, timeout=self.settings.transform_timeout)
        return Image(
            account_id=account_id,
            id=image_id,
            filename=new.filename or image_id.rsplit("/", 1)[-1],
            creator=new.creator,
            uploaded=now(),
            require_signed=new.require_signed,
            meta=new.meta or {},
            draft=False,
            size=len(data),
            content_type=header.media_type,
            width=header.width,
            height=header.height,
            content_hash=hashlib.sha256(data).hexdigest(),
            blob_key=f"{account_id}/{uuid.uuid4().hex}",
            placeholders=marks.as_dict(),
        )

    def upload(self, account_id: str, data: bytes, new: NewImage) -> Image:
        """Store a new image; returns its committed row (the acknowledgement)."""
        image_id = check_image_id(new.id) if new.id else str(uuid.uuid4())
        image = self.validated(account_id, data, new, image_id)  # check_new there
        return self._commit(image, data, lambda: self.catalog.add_image(image, self.settings.image_quota))

    def reserve(self, *, account_id: str, new: NewImage, expires: datetime) -> tuple[Image, str]:
        """A draft image and the secret of its one-time upload URL."""
        image_id = check_image_id(new.id) if new.id else str(uuid.uuid4())
        new = check_new(new, image_id)
        draft = Image(
            account_id=account_id,
            id=image_id,
            filename=new.filename,
            creator=new.creator,
            uploaded=now(),
            require_signed=new.require_signed,
            meta=new.meta or {},
            draft=True,
            size=0,
            content_type="",
            width=0,
            height=0,
            content_hash="",
            blob_key=None,  # no bytes yet: the slot's upload brings them
        )
        secret = self.catalog.add_slot(draft, expires, self.settings.image_quota)
        return draft, secret

    def redeem(self, secret: str, data: bytes, filename: str) -> Image:
        """Redeem a direct-upload slot with the uploaded file."""
        slot = self.catalog.slot(secret)
        draft = self.catalog.image(slot.account_id, slot.image_id, drafts=True)
        new = NewImage(draft.id, filename, draft.creator, draft.meta, draft.require_signed)
        image = self.validated(slot.account_id, data, new, draft.id)
        return self._commit(image, data, lambda: self.catalog.redeem(secret, image))

    def _commit(self, image: Image, data: bytes, record: Callable[[], Image]) -> Image:
        assert image.blob_key is not None
        self.storage.put(image.blob_key, data)
        try:
            return record()
        except (ConflictError, NotFoundError, QuotaExceededError):
            self.storage.delete(image.blob_key)  # refused before the commit: nobody references it
            raise
        except Exception:
            self.forget_unreferenced(image)
            raise

    def forget_unreferenced(self, image: Image) -> None:
        """After an unexpected failure to record ``image``: delete its blob unless the row made it
        (public for bulk import, which commits its rows itself).

        The failure may have come after the commit (a lost acknowledgement), so the catalog is
        asked; only a row that does not reference this blob proves nobody does (blob keys are
        never reused). If the catalog cannot answer either, the orphan sweep decides later.
        """
        assert image.blob_key is not None
        try:
            stored = self.catalog.image(image.account_id, image.id, drafts=True).blob_key
        except NotFoundError:
            stored = None
        except Exception:  # noqa: BLE001 — the catalog is down: keep the blob for the sweep
            return
        if stored != image.blob_key:
            self.storage.delete(image.blob_key)

    def original(self, image: Image) -> bytes:
        assert image.blob_key is not None
        try:
            return self.storage.get(image.blob_key)
        except BlobMissingError as exc:  # deleted a moment ago (another replica), or lost
            raise NotFoundError(f"image {image.id!r} not found") from exc

    def edit_image(self, account_id: str, image_id: str, changes: Mapping[str, object]) -> Image:
        """Change an image's metadata, creator or privacy (:func:`check_edit`); returns the new row."""
        return self.catalog.update_image(account_id, image_id, check_edit(image_id, changes))

    def delete(self, account_id: str, image_id: str) -> Image:
        """Remove the row, then the blob. Once the row is gone the deletion is done: a storage that
        fails now leaves an orphan for the sweep, and the caller is told of success, not failure."""
        image = self.catalog.delete_image(account_id, image_id)
        if image.blob_key:
            try:
                self.storage.delete(image.blob_key)
            except Exception:  # any storage failure: the sweep removes the blob later
                logger.warning(
                    "image %s/%s deleted; its blob %s could not be removed now and is left for the orphan sweep",
                    account_id,
                    image_id,
                    image.blob_key,
                    exc_info=True,
                )
        return image

    def collect_orphans(self) -> int:
        """Delete blobs no row references that are older than the grace period (crash leftovers).

        Only from a storage proven to be this catalog's (:mod:`enlarger.storage.ownership`), and only
        blobs of accounts the catalog knows: a wrong ``database_url`` must not delete every original.
        """
        self.catalog.expire_slots()
        self.catalog.expire_batch_tokens()
        cutoff = now() - timedelta(seconds=self.settings.orphan_grace_seconds)
        accounts = {account.id for account in self.catalog.accounts()}
        referenced = self.catalog.blob_keys()
        blobs = [blob for blob in self.storage.list() if _BLOB_KEY.match(blob.key)]  # never what we did not write
        ownership.confirm(self.storage, catalog_id(self.catalog.engine), accounts, blobs)
        removed = 0
        for blob in blobs:
            known = blob.key.split("/", 1)[0] in accounts
            if known and blob.key not in referenced and blob.modified < cutoff:
                self.storage.delete(blob.key)
                removed += 1
        return removed
