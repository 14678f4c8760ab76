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
from tests.live import serve


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
