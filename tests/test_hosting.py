"""Upload durability rules: blob first, row second; failures and crashes leave nothing visible."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from enlarger import codecs
from enlarger.catalog.store import Catalog, Image, now
from enlarger.errors import (
    ConflictError,
    CorruptImageError,
    EnlargerError,
    InputTooLargeError,
    NotFoundError,
    QuotaExceededError,
    RequestError,
    StorageOwnershipError,
    UnsupportedFormatError,
)
from enlarger.hosting import Hosting, NewImage, check_browser_ttl, check_creator
from enlarger.settings import Settings
from enlarger.storage.local import LocalStorage
from enlarger.storage.ownership import MARKER_KEY
from enlarger.storage.s3 import S3Storage
from tests.backends import fresh_database, make_bucket
from tests.imaging import gradient, save, solid


@pytest.fixture
def hosting(tmp_path: Path) -> Hosting:
    settings = Settings(data_dir=tmp_path, max_upload_bytes=200_000, orphan_grace_seconds=60)
    return Hosting(Catalog(settings.catalog_url), LocalStorage(tmp_path / "originals"), settings)


def _blobs(hosting: Hosting) -> list[str]:
    """The originals in storage (not the catalog's ownership marker)."""
    return sorted(blob.key for blob in hosting.storage.list() if blob.key != MARKER_KEY)


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


def test_an_upload_is_made_readable_once(hosting: Hosting, monkeypatch: pytest.MonkeyPatch) -> None:
    # the checked input is a type (pipeline.Readable): an SVG is sanitized once and any upload probed
    # once, however many engine entries (validation, placeholders, their decide) read it after
    calls = {"sanitize_svg": 0, "probe": 0}
    for name in calls:
        real = getattr(codecs, name)

        def counted(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(codecs, name, counted)
    account = hosting.catalog.create_account()
    rect = b'<rect width="60" height="40" fill="red"/>'
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">' + rect + b"</svg>"
    image = hosting.upload(account.id, svg, NewImage(id="logo"))
    assert (image.content_type, image.width, image.height) == ("image/svg+xml", 60, 40)
    assert image.placeholders is not None and image.placeholders["dominant_color"] == "#ff0000"
    assert calls == {"sanitize_svg": 1, "probe": 1}


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
    "image_id",
    [
        "a//b",
        "../x",
        "p/blob",
        "variants/x",
        "config",
        "batch_token",
        "0b7b8e0c-6b0e-4b8a-9a8e-4f1e2b3c4d5e",
        "x" * 1025,
    ],
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
    hosting.upload(account.id, photo_jpeg, NewImage(id="gone"))
    hosting.delete(account.id, "gone")
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0


def test_delete_drops_the_row_before_the_blob(
    hosting: Hosting, photo_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure between the two steps must leave an orphan blob (swept later), never a row whose
    bytes are gone: so when the blob delete fails, the row is already gone and the blob still there.
    The deletion happened, so it is not reported as a failure (issue 25.5)."""
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage(id="half"))

    def storage_down(key: str) -> None:
        raise OSError("storage unreachable")

    monkeypatch.setattr(hosting.storage, "delete", storage_down)
    assert hosting.delete(account.id, "half").blob_key == image.blob_key
    with pytest.raises(NotFoundError):
        hosting.catalog.image(account.id, "half")
    assert _blobs(hosting) == [image.blob_key]


def test_concurrent_uploads_cannot_overshoot_the_quota(tmp_path: Path, photo_jpeg: bytes, catalog_url: str) -> None:
    """Once on SQLite and once on PostgreSQL, where the quota check relies on ``FOR UPDATE``."""
    settings = Settings(data_dir=tmp_path, image_quota=3, database_url=catalog_url)
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


def _refuse_filename_in_database(catalog: Catalog, filename: str) -> None:
    """Make the database itself fail on rows with ``filename``: a real error inside the insert
    that is neither a conflict nor a quota (on PostgreSQL what a NUL byte used to cause)."""
    with catalog.engine.begin() as connection:
        if catalog.engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
                "LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER refused BEFORE INSERT ON images FOR EACH ROW "
                f"WHEN (NEW.filename = '{filename}') EXECUTE FUNCTION refuse()"
            )
        else:  # reading malformed JSON fails when the trigger runs (RAISE would be a constraint: a conflict)
            connection.exec_driver_sql(
                f"CREATE TRIGGER refused BEFORE INSERT ON images WHEN NEW.filename = '{filename}' "
                "BEGIN SELECT json('refused'); END"
            )


def test_a_database_failure_before_the_commit_removes_the_blob(
    tmp_path: Path, photo_jpeg: bytes, catalog_url: str
) -> None:
    """Issue 24: an upload the database refused (on PostgreSQL e.g. a NUL byte) kept its blob until a sweep."""
    settings = Settings(data_dir=tmp_path, database_url=catalog_url)
    hosting = Hosting(Catalog(settings.catalog_url), LocalStorage(tmp_path / "originals"), settings)
    account = hosting.catalog.create_account()
    kept = hosting.upload(account.id, photo_jpeg, NewImage(id="kept"))
    _refuse_filename_in_database(hosting.catalog, "refused.jpg")
    for attempt in range(3):
        with pytest.raises(Exception, match=r"refused|malformed JSON") as caught:
            hosting.upload(account.id, photo_jpeg, NewImage(id=f"doomed{attempt}", filename="refused.jpg"))
        assert not isinstance(caught.value, EnlargerError)  # a real database error, not a validation
    assert _blobs(hosting) == [kept.blob_key]  # each refused upload took its blob with it
    after = hosting.upload(account.id, photo_jpeg, NewImage(id="after"))  # the database refuses only those
    assert set(_blobs(hosting)) == {kept.blob_key, after.blob_key}
    assert hosting.catalog.count_images(account.id) == 2


def test_a_nul_anywhere_in_a_new_image_is_refused_before_storing(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    for new in (
        NewImage(id="a\x00b"),
        NewImage(filename="a\x00.jpg"),
        NewImage(creator="ada\x00"),
        NewImage(meta={"k": ["v", {"deep": "\x00"}]}),
        NewImage(meta={"k\x00": 1}),
    ):
        with pytest.raises(RequestError, match="NUL"):
            hosting.upload(account.id, photo_jpeg, new)
        with pytest.raises(RequestError):
            hosting.reserve(account_id=account.id, new=new, expires=now() + timedelta(minutes=5))
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0


def test_orphan_sweep_touches_only_keys_it_could_have_written(hosting: Hosting) -> None:
    hosting.storage.put("someone-else/backup.tar", b"not ours")
    old = time.time() - 7200
    path = Path(hosting.settings.data_dir / "originals" / "someone-else" / "backup.tar")
    os.utime(path, (old, old))
    assert hosting.collect_orphans() == 0 and path.exists()


def test_orphan_sweep_on_s3_stays_under_its_prefix(
    tmp_path: Path, photo_jpeg: bytes, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 cannot backdate an object, so the sweep's clock is moved instead: to exactly one grace period
    after the fresh blob was written, which makes everything written before it an old orphan."""
    settings = Settings(data_dir=tmp_path, orphan_grace_seconds=60)
    bucket = make_bucket(s3_endpoint)
    credentials: dict[str, Any] = {"endpoint": s3_endpoint, "access_key_id": "test", "secret_access_key": "test"}
    storage = S3Storage(bucket, prefix="originals/", **credentials)
    hosting = Hosting(Catalog(settings.catalog_url), storage, settings)
    account = hosting.catalog.create_account()
    kept = hosting.upload(account.id, photo_jpeg, NewImage())
    crashed, fresh = f"{account.id}/{'a' * 32}", f"{account.id}/{'b' * 32}"
    storage.put(crashed, b"half an upload")
    outside = S3Storage(bucket, prefix="elsewhere/", **credentials)
    outside.put(crashed, b"same shape, other prefix: not ours")
    written = {blob.key: blob.modified for blob in storage.list()}
    for _ in range(50):  # S3 timestamps may be coarse: write until the fresh blob is strictly newer
        storage.put(fresh, b"being committed right now")
        written = {blob.key: blob.modified for blob in storage.list()}
        if written[fresh] > max(written[crashed], written[str(kept.blob_key)]):
            break
        time.sleep(0.05)
    sweep_time = written[fresh] + timedelta(seconds=settings.orphan_grace_seconds)
    monkeypatch.setattr("enlarger.hosting.now", lambda: sweep_time)
    assert hosting.collect_orphans() == 1
    assert _blobs(hosting) == sorted([str(kept.blob_key), fresh])
    assert outside.get(crashed) == b"same shape, other prefix: not ours"


def test_missing_blob_is_not_found(hosting: Hosting, photo_jpeg: bytes) -> None:
    account = hosting.catalog.create_account()
    image = hosting.upload(account.id, photo_jpeg, NewImage())
    assert image.blob_key is not None
    hosting.storage.delete(image.blob_key)
    with pytest.raises(NotFoundError):
        hosting.original(image)


def test_custom_ids_cannot_require_signed_urls(hosting: Hosting, photo_jpeg: bytes) -> None:
    """upload-custom-path.mdx: "Images with custom ID paths cannot be made private using signed URL
    tokens" — refused before anything is stored, for uploads and direct uploads alike."""
    account = hosting.catalog.create_account()
    with pytest.raises(RequestError, match="custom ID"):
        hosting.upload(account.id, photo_jpeg, NewImage(id="shop/red.jpg", require_signed=True))
    with pytest.raises(RequestError, match="custom ID"):
        hosting.reserve(account_id=account.id, new=NewImage(id="later", require_signed=True), expires=now())
    assert _blobs(hosting) == [] and hosting.catalog.count_images(account.id) == 0
    private = hosting.upload(account.id, photo_jpeg, NewImage(require_signed=True))
    assert private.require_signed and len(private.id) == 36
    draft, _ = hosting.reserve(
        account_id=account.id, new=NewImage(require_signed=True), expires=now() + timedelta(minutes=5)
    )
    assert draft.require_signed


def test_collect_orphans_forgets_expired_batch_tokens(hosting: Hosting) -> None:
    account = hosting.catalog.create_account()
    live, _ = hosting.catalog.create_batch_token(account.id, timedelta(hours=1))
    hosting.catalog.create_batch_token(account.id, timedelta(seconds=-1))
    hosting.collect_orphans()
    assert hosting.catalog.expire_batch_tokens() == 0  # the sweep already removed the expired one
    assert hosting.catalog.batch_token_account(live) == account.id


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("ada", "ada"), ("x" * 1024, "x" * 1024)])
def test_creator_values(value: object, expected: str | None) -> None:
    """``creator`` is free text (SDK: "an internal user ID"); empty is none, as ``creator=`` lists it."""
    assert check_creator(value) == expected


@pytest.mark.parametrize("value", ["x" * 1025, 42, "tab\there"])
def test_bad_creators(value: object) -> None:
    with pytest.raises(RequestError, match="creator"):
        check_creator(value)


@pytest.mark.parametrize(("value", "expected"), [(3600, 3600), (31536000, 31536000), (86400.0, 86400)])
def test_browser_ttl_range(value: object, expected: int) -> None:
    """browser-ttl.mdx: "an interval between one hour to one year", in seconds."""
    assert check_browser_ttl(value) == expected


@pytest.mark.parametrize("value", [3599, 31536001, True, "3600", 3600.5, float("inf")])
def test_bad_browser_ttls(value: object) -> None:
    with pytest.raises(RequestError, match="browser_ttl"):
        check_browser_ttl(value)


def test_a_sweep_with_the_wrong_catalog_deletes_nothing(
    tmp_path: Path, photo_jpeg: bytes, postgres: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25.1: `enlarger gc` with the S3 settings but a wrong (or missing) ``database_url`` once
    deleted every original in the bucket. Two catalogs, one bucket: the wrong one deletes nothing,
    a fresh SQLite one (``database_url`` forgotten) neither, and the right one still sweeps its orphan."""
    bucket = make_bucket(s3_endpoint)
    credentials: dict[str, Any] = {"endpoint": s3_endpoint, "access_key_id": "test", "secret_access_key": "test"}
    storage = S3Storage(bucket, prefix="originals/", **credentials)
    right = Settings(data_dir=tmp_path / "right", database_url=fresh_database(postgres), orphan_grace_seconds=60)
    owner = Hosting(Catalog(right.catalog_url), storage, right)
    account = owner.catalog.create_account()
    kept = [owner.upload(account.id, photo_jpeg, NewImage()) for _ in range(3)]
    assert owner.collect_orphans() == 0  # the first sweep claims the bucket for its catalog
    crashed = f"{account.id}/{'c' * 32}"
    storage.put(crashed, b"an upload that crashed before its commit")
    monkeypatch.setattr("enlarger.hosting.now", lambda: now() + timedelta(days=1))  # everything is old

    wrong = Settings(data_dir=tmp_path / "wrong", database_url=fresh_database(postgres), orphan_grace_seconds=60)
    forgotten = Settings(data_dir=tmp_path / "forgotten", orphan_grace_seconds=60)  # SQLite in data_dir
    for settings in (wrong, forgotten):
        stranger = Hosting(Catalog(settings.catalog_url), storage, settings)
        stranger.catalog.create_account()  # a catalog with accounts of its own
        with pytest.raises(StorageOwnershipError, match="another catalog"):
            stranger.collect_orphans()
        assert {str(image.blob_key) for image in kept} <= set(_blobs(stranger))

    assert owner.collect_orphans() == 1  # the right catalog still removes its own crash leftover
    assert _blobs(owner) == sorted(str(image.blob_key) for image in kept)
    assert all(owner.original(image) == photo_jpeg for image in kept)


def test_an_unclaimed_bucket_with_unknown_accounts_is_not_swept(
    tmp_path: Path, postgres: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket written before the marker existed is claimed only by a catalog that knows every account in it."""
    bucket = make_bucket(s3_endpoint)
    storage = S3Storage(bucket, endpoint=s3_endpoint, access_key_id="test", secret_access_key="test")
    storage.put(f"{'e' * 32}/{'f' * 32}", b"an original of an account this catalog never had")
    settings = Settings(data_dir=tmp_path, database_url=fresh_database(postgres), orphan_grace_seconds=60)
    hosting = Hosting(Catalog(settings.catalog_url), storage, settings)
    monkeypatch.setattr("enlarger.hosting.now", lambda: now() + timedelta(days=1))
    with pytest.raises(StorageOwnershipError, match="accounts this catalog does not know"):
        hosting.collect_orphans()
    assert _blobs(hosting) == [f"{'e' * 32}/{'f' * 32}"]
