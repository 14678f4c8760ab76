"""Image records as the images API and the binding's ``images.hosted`` return them, with delivery URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from enlarger.catalog.store import Image


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ImageRecords:
    """How delivery URLs are spelled for one account, for image records: ids percent-encoded
    (``%`` as ``%25``, spaces and non-ASCII as UTF-8), their ``/`` kept as path separators."""

    base: str
    account_hash: str
    variant_names: tuple[str, ...]

    def record(self, image: Image) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": image.id,
            "filename": image.filename,
            "creator": image.creator,  # null when unset: every record names its creator (SDK ``Image``)
            "uploaded": timestamp(image.uploaded),
            "requireSignedURLs": image.require_signed,
            "meta": image.meta,
            "variants": [f"{self.base}/{self.account_hash}/{quote(image.id)}/{name}" for name in self.variant_names],
        }
        if image.draft:
            record["draft"] = True
        if image.placeholders:  # Enlarger's extension: blurhash, thumbhash, dominant_color
            record.update(image.placeholders)
        return record
