"""Upload durability rules: blob first, row second; failures and crashes leave nothing visible."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from enlarger.catalog.store import Catalog
from enlarger.errors import ConflictError, CorruptImageError, InputTooLargeError, RequestError, UnsupportedFormatError
from enlarger.hosting import Hosting, NewImage
from enlarger.settings import Settings
from enlarger.storage.local import LocalStorage
from tests.imaging import gradient, save


@pytest.fixture
def hosting(tmp_path: Path) -> Hosting:
    settings = Settings(data_dir=tmp_path, max_upload_bytes=200_000, orphan_grace_seconds=60)
    return Hosting(Catalog(settings.catalog_url), LocalStorage(tmp_path / "originals"), settings)


def _blobs(hosting: Hosting) -> list[str]:
    return sorted(blob.key for blob in hosting.storage.list())


def test_upload_records_what_the_bytes_are(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage(filename="a.png"))
    assert (image.content_type, image.width, image.height, image.size) == ("image/jpeg", 320, 240, len(photo_jpeg))
    assert hosting.original(image) == photo_jpeg
    assert _blobs(hosting) == [image.blob_key]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UnsupportedFormatError),
        (b"GIF89a" + b"\x00" * 20, CorruptImageError),
        (save(gradient(400, 400), "png", compression=0), InputTooLargeError),
    ],
)
def test_rejected_uploads_store_nothing(hosting: Hosting, data: bytes, error: type[Exception]) -> None:
    account = hosting.catalog.create_account()
    with pytest.raises(error):
        hosting.upload(account.id, data, NewImage())
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0


def test_conflicting_id_removes_the_new_blob(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    first = hosting.upload(account.id, photo_jpeg, NewImage(id="same"))
    with pytest.raises(ConflictError):
        hosting.upload(account.id, photo_jpeg, NewImage(id="same"))
    assert _blobs(hosting) == [first.blob_key]


@pytest.mark.parametrize("image_id", ["a//b", "../x", "variants/x", "0b7b8e0c-6b0e-4b8a-9a8e-4f1e2b3c4d5e", "x" * 1025])
def test_bad_custom_ids(hosting: Hosting, photo_jpeg: bytes, image_id: str) -> None:
    with pytest.raises(RequestError):
        hosting.upload(hosting.catalog.create_account().id, photo_jpeg, NewImage(id=image_id))


def test_orphans_older_than_grace_are_collected(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    kept = hosting.upload(account.id, photo_jpeg, NewImage())
    hosting.storage.put(f"{account.id}/crashed-old", b"half an upload")
    hosting.storage.put(f"{account.id}/in-flight", b"being committed right now")
    assert kept.blob_key is not None
    old = time.time() - 3600
    root = Path(hosting.settings.data_dir / "originals")
    os.utime(root / account.id / "crashed-old", (old, old))
    os.utime(root / kept.blob_key, (old, old))  # old but referenced: stays
    assert hosting.collect_orphans() == 1
    assert _blobs(hosting) == sorted([kept.blob_key, f"{account.id}/in-flight"])


def test_delete_removes_row_then_blob(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage(id="gone"))
    hosting.delete(account.id, "gone")
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0
    assert image.blob_key
