"""Another Enlarger, over real HTTP on loopback, as the Cloudflare-compatible source: ids (UUIDs
included), metadata, creator, requireSignedURLs, bytes and variants arrive intact; drafts do not."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from enlarger.catalog.store import Account, Catalog
from enlarger.cli import main
from enlarger.hosting import Hosting
from enlarger.server.app import create_app
from enlarger.settings import Settings
from enlarger.storage.factory import open_storage
from tests.importing.conftest import small_images
from tests.live import Origin, serve


def test_an_images_api_account_is_copied(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data_dir: Path,
    account: Account,
) -> None:
    source_dir = tmp_path / "source"
    source_catalog = Catalog(Settings(data_dir=source_dir).catalog_url)
    source_account = source_catalog.create_account("old")
    _, token = source_catalog.create_token(source_account.id)
    source_catalog.close()
    images = small_images(4)
    uploads = [
        ({"id": "products/shoe.png", "metadata": json.dumps({"sku": "S-1"}), "creator": "ada"}, images[0]),
        ({"requireSignedURLs": "true", "metadata": json.dumps({"n": 2})}, images[1]),
        ({}, images[2]),
    ]
    with serve(create_app(Settings(data_dir=source_dir))) as base:
        api = f"{base}/client/v4/accounts/{source_account.id}/images"
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            sent = []
            for fields, body in uploads:
                answer = client.post(f"{api}/v1", data=fields, files={"file": ("orig.png", body)})
                assert answer.status_code == 200, answer.text
                sent.append((answer.json()["result"], body))
            assert client.post(f"{api}/v2/direct_upload", data={"id": "draft-only"}).status_code == 200
            variant = {"id": "thumb", "options": {"fit": "cover", "width": 50, "height": 50}}
            assert client.post(f"{api}/v1/variants", json=variant).status_code == 200
        monkeypatch.setenv("ENLARGER_IMPORT_API_TOKEN", token)
        status = main(["import", "--account", account.id, "--from", f"images-api:{base}/client/v4/{source_account.id}",
                       "--variants", "--data-dir", str(data_dir), "--json"])  # fmt: skip
        summary = json.loads(capsys.readouterr().out)
    assert status == 0 and summary["state"] == "done"
    assert summary["counts"] == {
        "pending": 0,
        "done": 3,
        "skipped": 0,
        "failed": 0,
        "bytes": sum(len(b) for b in images[:3]),
    }
    assert "token" not in json.dumps(summary).lower().replace("continuation_token", "")
    settings = Settings(data_dir=data_dir)
    catalog = Catalog(settings.catalog_url)
    hosting = Hosting(catalog, open_storage(settings), settings)
    for record, body in sent:
        image = catalog.image(account.id, record["id"])  # the same id, a UUID or a custom one
        assert image.meta == record["meta"]
        assert image.creator == record.get("creator")
        assert image.require_signed == record["requireSignedURLs"]
        assert image.filename == record["filename"]
        assert hosting.original(image) == body
    assert catalog.count_images(account.id) == 3  # the draft was left out
    thumb = catalog.variant(account.id, "thumb")
    assert thumb.options == {"fit": "cover", "width": 50, "height": 50}
    catalog.close()


def test_a_missing_token_is_a_clear_error(capsys: pytest.CaptureFixture[str], data_dir: Path, account: Account) -> None:
    status = main(["import", "--account", account.id, "--from", "images-api:http://127.0.0.1:9/client/v4/abc",
                   "--data-dir", str(data_dir)])  # fmt: skip
    assert status == 2
    assert "ENLARGER_IMPORT_API_TOKEN" in capsys.readouterr().err


def test_imported_objects_pass_the_upload_rules(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    account: Account,
) -> None:
    """Issue 24: an images-API source may send what no upload would be allowed: each such object
    fails with the reason an upload would get, the others are imported."""
    body = small_images(1)[0]
    records: dict[str, dict[str, object]] = {
        "good.png": {},
        "big-meta.png": {"meta": {"k": "x" * 20_000}},
        "escape-creator.png": {"creator": "ada\x1b[2J"},
        "private-custom.png": {"requireSignedURLs": True},
        "nul-meta.png": {"meta": {"k": "a\x00b"}},
    }
    origin = Origin()
    root = "/client/v4/accounts/src/images"
    listing = [{"id": key, "filename": key, **fields} for key, fields in records.items()]
    origin.files[f"{root}/v2"] = json.dumps({"success": True, "result": {"images": listing}}).encode()
    for key in records:
        origin.files[f"{root}/v1/{key}/blob"] = body
    with serve(origin.app()) as base:
        monkeypatch.setenv("ENLARGER_IMPORT_API_TOKEN", "source-token")
        main(["import", "--account", account.id, "--from", f"images-api:{base}/client/v4/src",
              "--data-dir", str(data_dir), "--json"])  # fmt: skip
        summary = json.loads(capsys.readouterr().out)
    assert (summary["counts"]["done"], summary["counts"]["failed"]) == (1, 4), summary
    assert main(["import", "--account", account.id, "--log", summary["id"], "--format", "jsonl",
                 "--data-dir", str(data_dir)]) == 0  # fmt: skip
    log = {row["key"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    reasons = {key: (row["state"], row["reason"]) for key, row in log.items()}
    assert reasons["good.png"][0] == "done"
    assert reasons["big-meta.png"] == ("failed", "metadata must not exceed 1024 bytes")
    assert reasons["escape-creator.png"][0] == "failed" and "creator" in reasons["escape-creator.png"][1]
    assert reasons["private-custom.png"][0] == "failed" and "signed" in reasons["private-custom.png"][1]
    assert reasons["nul-meta.png"][0] == "failed" and "NUL" in reasons["nul-meta.png"][1]
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    assert [image.id for image in catalog.page(account.id, 1, 100).images] == ["good.png"]
    catalog.close()
    blobs = [p for p in (data_dir / "originals").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].read_bytes() == body
