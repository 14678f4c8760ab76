"""Upload durability rules: blob first, row second; failures and crashes leave nothing visible."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from enlarger.catalog.store import Catalog, Image
from enlarger.errors import (
    ConflictError,
    CorruptImageError,
    InputTooLargeError,
    NotFoundError,
    QuotaExceededError,
    RequestError,
    UnsupportedFormatError,
)
from enlarger.hosting import Hosting, NewImage
from enlarger.settings import Settings
from enlarger.storage.local import LocalStorage
from tests.imaging import gradient, save, solid


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


def test_upload_stores_placeholders_computed_once(hosting: Hosting) -> None:
    account = hosting.catalog.create_account()
    red = save(solid(120, 80, (220, 30, 30)), "png")
    image = hosting.upload(account.id, red, NewImage(id="red"))
    assert image.placeholders is not None and image.placeholders["dominant_color"] == "#dc1e1e"
    stored = hosting.catalog.image(account.id, "red")
    assert stored.placeholders == image.placeholders  # read back from the catalog, not recomputed
    assert set(stored.placeholders or {}) == {"blurhash", "thumbhash", "dominant_color"}


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


@pytest.mark.parametrize(
    "image_id", ["a//b", "../x", "p/blob", "variants/x", "0b7b8e0c-6b0e-4b8a-9a8e-4f1e2b3c4d5e", "x" * 1025]
)
def test_bad_custom_ids(hosting: Hosting, photo_jpeg: bytes, image_id: str) -> None:
    with pytest.raises(RequestError):
        hosting.upload(hosting.catalog.create_account().id, photo_jpeg, NewImage(id=image_id))


def test_orphans_older_than_grace_are_collected(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    kept = hosting.upload(account.id, photo_jpeg, NewImage())
    crashed, in_flight = f"{account.id}/{'a' * 32}", f"{account.id}/{'b' * 32}"
    hosting.storage.put(crashed, b"half an upload")
    hosting.storage.put(in_flight, b"being committed right now")
    assert kept.blob_key is not None
    old = time.time() - 3600
    root = Path(hosting.settings.data_dir / "originals")
    os.utime(root / crashed, (old, old))
    os.utime(root / kept.blob_key, (old, old))  # old but referenced: stays
    assert hosting.collect_orphans() == 1
    assert _blobs(hosting) == sorted([kept.blob_key, in_flight])


def test_delete_removes_row_then_blob(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage(id="gone"))
    hosting.delete(account.id, "gone")
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0
    assert image.blob_key


def test_concurrent_uploads_cannot_overshoot_the_quota(tmp_path: Path, photo_jpeg: bytes) -> None:
    settings = Settings(data_dir=tmp_path, image_quota=3)
    hosting = Hosting(Catalog(settings.catalog_url), LocalStorage(tmp_path / "originals"), settings)
    account = hosting.catalog.create_account()
    hosting.upload(account.id, photo_jpeg, NewImage())

    def attempt(_: int) -> str:
        try:
            hosting.upload(account.id, photo_jpeg, NewImage())
        except QuotaExceededError:
            return "refused"
        return "stored"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("stored") == 2 and outcomes.count("refused") == 6
    assert hosting.catalog.count_images(account.id) == 3
    assert len(_blobs(hosting)) == 3  # refused uploads took their blobs with them


def test_a_failure_after_the_commit_keeps_the_blob(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    real = hosting.catalog.add_image

    def commit_then_fail(image: Image, quota: int | None = None) -> Image:
        real(image, quota)
        raise OperationalError("COMMIT", {}, Exception("connection lost after commit"))

    hosting.catalog.add_image = commit_then_fail  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        hosting.upload(account.id, photo_jpeg, NewImage(id="ambiguous"))
    stored = hosting.catalog.image(account.id, "ambiguous")
    assert hosting.original(stored) == photo_jpeg  # the row that did commit still has its bytes


def test_orphan_sweep_touches_only_keys_it_could_have_written(hosting: Hosting) -> None:
    hosting.storage.put("someone-else/backup.tar", b"not ours")
    old = time.time() - 7200
    path = Path(hosting.settings.data_dir / "originals" / "someone-else" / "backup.tar")
    os.utime(path, (old, old))
    assert hosting.collect_orphans() == 0 and path.exists()


def test_missing_blob_is_not_found(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage())
    assert image.blob_key is not None
    hosting.storage.delete(image.blob_key)
    with pytest.raises(NotFoundError):
        hosting.original(image)
