"""Import from moto's S3 server on loopback through ``enlarger import``: exact counts per outcome,
bytes kept, hostile SVGs stored but never delivered raw, prefix selection, overwrite vs skip, dry run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from enlarger.catalog.store import Account, Catalog
from enlarger.cli import main
from enlarger.hosting import Hosting
from enlarger.importing.jobs import JobStore
from enlarger.settings import Settings
from enlarger.storage.factory import open_storage
from tests.importing.conftest import Bucket, fill_bucket, s3_client, small_images

GOOD = 2000


@pytest.fixture(scope="module")
def big_bucket(s3_endpoint: str) -> Bucket:
    return fill_bucket(s3_endpoint, GOOD)


@pytest.fixture
def small_bucket(s3_endpoint: str) -> Bucket:
    return fill_bucket(s3_endpoint, 20)


def _import(capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account, source: str, *args: str) -> Any:
    endpoint = args[0]
    status = main(["import", "--account", account.id, "--from", source, "--endpoint-url", endpoint, *args[1:],
                   "--data-dir", str(data_dir), "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out)


@pytest.fixture
def hosting(data_dir: Path) -> Iterator[Hosting]:
    settings = Settings(data_dir=data_dir)
    catalog = Catalog(settings.catalog_url)
    yield Hosting(catalog, open_storage(settings), settings)
    catalog.close()


def test_a_bucket_of_thousands_imports_with_exact_counts(
    capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account, big_bucket: Bucket
) -> None:
    summary = _import(capsys, data_dir, account, f"s3://{big_bucket.name}/photos/", big_bucket.endpoint,
                      "--concurrency", "4")  # fmt: skip
    expected_done, expected_failed = big_bucket.keys("done", "photos/"), big_bucket.keys("failed", "photos/")
    assert summary["state"] == "done" and summary["total"] == len(expected_done) + len(expected_failed)
    counts = summary["counts"]
    assert counts == {
        "pending": 0, "done": GOOD + 1, "skipped": 0, "failed": 5,
        "bytes": sum(len(big_bucket.bodies[k]) for k in expected_done),
    }  # fmt: skip
    settings = Settings(data_dir=data_dir)
    catalog = Catalog(settings.catalog_url)
    hosting = Hosting(catalog, open_storage(settings), settings)
    assert catalog.count_images(account.id) == GOOD + 1
    ids = {image.id for image in catalog.page(account.id, 1, 10_000).images}
    assert ids == expected_done  # keys became the ids; nothing outside the prefix
    for key in ("photos/0/img00000.png", "photos/3/img01999.png", "photos/hostile.svg"):
        image = catalog.image(account.id, key)
        assert hosting.original(image) == big_bucket.bodies[key]
        assert image.content_hash == hashlib.sha256(big_bucket.bodies[key]).hexdigest()
    assert catalog.image(account.id, "photos/hostile.svg").content_type == "image/svg+xml"
    assert len(list(hosting.storage.list())) == GOOD + 1  # one blob per row, no leftovers
    reasons = {row.key: row.reason or "" for row in JobStore(catalog).log(summary["id"]) if row.state == "failed"}
    assert set(reasons) == expected_failed
    assert "4,096 bytes" in reasons["photos/huge.png"]  # refused by its listed size, never downloaded
    assert "invalid image id" in reasons["photos/bad#name.png"]
    assert all(reason for reason in reasons.values())
    catalog.close()


def test_the_log_is_csv_or_jsonl(
    capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account, small_bucket: Bucket
) -> None:
    summary = _import(capsys, data_dir, account, f"s3://{small_bucket.name}/photos/", small_bucket.endpoint)
    base = ["import", "--account", account.id, "--log", summary["id"], "--data-dir", str(data_dir)]
    assert main([*base, "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["key"]: r["state"] for r in rows} == {
        k: v for k, v in small_bucket.outcomes.items() if k.startswith("photos/")
    }
    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "key,image_id,state,reason,bytes,attempts,finished" and len(lines) == len(rows) + 1


def test_skip_then_overwrite(
    capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account, small_bucket: Bucket, hosting: Hosting
) -> None:
    source = f"s3://{small_bucket.name}/elsewhere/"
    first = _import(capsys, data_dir, account, source, small_bucket.endpoint)
    assert first["counts"]["done"] == 2
    replacement = small_images(12)[11]
    s3_client(small_bucket.endpoint).put_object(Bucket=small_bucket.name, Key="elsewhere/a.png", Body=replacement)
    again = _import(capsys, data_dir, account, source, small_bucket.endpoint)
    assert again["id"] != first["id"] and (again["counts"]["done"], again["counts"]["skipped"]) == (0, 2)
    image = hosting.catalog.image(account.id, "elsewhere/a.png")
    assert hosting.original(image) == small_bucket.bodies["elsewhere/a.png"]  # skipped: the old bytes stay
    replaced = _import(capsys, data_dir, account, source, small_bucket.endpoint, "--overwrite")
    assert (replaced["counts"]["done"], replaced["counts"]["skipped"]) == (2, 0)
    image = hosting.catalog.image(account.id, "elsewhere/a.png")
    assert hosting.original(image) == replacement
    assert hosting.catalog.count_images(account.id) == 2
    assert len(list(hosting.storage.list())) == 2  # the replaced blobs are gone


def test_prefix_selection_id_prefix_new_ids_and_dry_run(
    capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account, small_bucket: Bucket, hosting: Hosting
) -> None:
    source = f"s3://{small_bucket.name}/photos/0/"
    dry = _import(capsys, data_dir, account, source, small_bucket.endpoint, "--dry-run")
    assert dry["state"] == "done" and dry["dry_run"] and dry["total"] == 20
    assert dry["total_bytes"] == sum(len(b) for k, b in small_bucket.bodies.items() if k.startswith("photos/0/"))
    assert dry["counts"]["pending"] == 20 and hosting.catalog.count_images(account.id) == 0
    done = _import(capsys, data_dir, account, source, small_bucket.endpoint, "--id-prefix", "cdn/")
    assert done["counts"]["done"] == 20
    ids = {image.id for image in hosting.catalog.page(account.id, 1, 100).images}
    assert ids == {f"cdn/{key}" for key in small_bucket.bodies if key.startswith("photos/0/")}
    fresh = _import(
        capsys, data_dir, account, f"s3://{small_bucket.name}/elsewhere/", small_bucket.endpoint, "--new-ids"
    )
    assert fresh["counts"]["done"] == 2
    assert hosting.catalog.count_images(account.id) == 22
    others = {image.id for image in hosting.catalog.page(account.id, 1, 100).images} - ids
    assert all(len(i) == 36 and i.count("-") == 4 for i in others)
