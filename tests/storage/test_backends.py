"""Both storage backends honour the same contract: whole, durable, deletable, listable blobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from enlarger.storage.base import BlobMissingError, Storage
from enlarger.storage.local import LocalStorage
from enlarger.storage.s3 import S3Storage
from tests.backends import make_bucket


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "blobs")
        return
    endpoint: str = request.getfixturevalue("s3_endpoint")
    yield S3Storage(
        make_bucket(endpoint), prefix="originals/", endpoint=endpoint, access_key_id="test", secret_access_key="test"
    )


def test_put_get_list_delete(storage: Storage) -> None:
    payload = bytes(range(256)) * 1000
    storage.put("acct/one", payload)
    storage.put("acct/two", b"2")
    assert storage.get("acct/one") == payload
    listed = {blob.key: blob.size for blob in storage.list()}
    assert listed == {"acct/one": len(payload), "acct/two": 1}
    storage.delete("acct/one")
    storage.delete("acct/one")  # deleting twice is fine
    with pytest.raises(BlobMissingError):
        storage.get("acct/one")
    assert [blob.key for blob in storage.list()] == ["acct/two"]


def test_local_writes_leave_no_partial_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While new bytes are being written the key still reads whole (old) bytes; a write that fails
    before the rename leaves the old blob and no temp file behind."""
    storage = LocalStorage(tmp_path / "blobs")
    storage.put("a/b", b"old" * 10)
    real_fsync = os.fsync
    seen: list[bytes] = []

    def fsync_watching(fd: int) -> None:
        if not seen:  # the first fsync is the temp file's, before the rename
            seen.append(storage.get("a/b"))
        real_fsync(fd)

    monkeypatch.setattr("enlarger.storage.local.os.fsync", fsync_watching)
    storage.put("a/b", b"new" * 10)
    assert seen == [b"old" * 10] and storage.get("a/b") == b"new" * 10

    def fsync_failing(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("enlarger.storage.local.os.fsync", fsync_failing)
    with pytest.raises(OSError, match="disk full"):
        storage.put("a/b", b"lost" * 10)
    assert storage.get("a/b") == b"new" * 10
    assert sorted(p.name for p in (tmp_path / "blobs" / "a").iterdir()) == ["b"]


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs"])
def test_local_refuses_keys_outside_its_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        LocalStorage(tmp_path / "blobs").put(key, b"x")
