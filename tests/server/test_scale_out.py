"""Two stateless replicas on a shared PostgreSQL catalog and S3-protocol storage."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyvips
from cloudflare import Cloudflare

from enlarger.catalog.store import Catalog
from tests.backends import fresh_database, make_bucket
from tests.imaging import gradient, save
from tests.server.conftest import Start


def test_replicas_share_catalog_and_storage(start: Start, tmp_path: Path, postgres: str, s3_endpoint: str) -> None:
    shared: dict[str, Any] = {
        "database_url": fresh_database(postgres),
        "storage": "s3",
        "s3_endpoint": s3_endpoint,
        "s3_bucket": make_bucket(s3_endpoint),
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
        "catalog_cache_seconds": 0,  # the other replica must see a deletion at once
    }
    catalog = Catalog(shared["database_url"])
    account = catalog.create_account("fleet")
    _, token = catalog.create_token(account.id)
    catalog.close()
    first = start(data_dir=tmp_path / "replica-a", **shared)
    second = start(data_dir=tmp_path / "replica-b", **shared)
    sdk = Cloudflare(api_token=token, base_url=str(first.base_url).rstrip("/") + "/client/v4", max_retries=0)

    data = save(gradient(640, 480), "jpeg", Q=90)
    image = sdk.images.v1.create(account_id=account.id, id="shared", file=("s.jpg", io.BytesIO(data), "image/jpeg"))
    assert image.id == "shared"
    assert not list((tmp_path / "replica-a").rglob("originals"))  # nothing stored locally

    delivered = second.get(f"/{account.hash}/shared/public", headers={"Accept": "image/webp"})
    assert delivered.status_code == 200 and delivered.headers["content-type"] == "image/webp"
    assert pyvips.Image.new_from_buffer(delivered.content, "").width == 640
    blob = second.get(
        f"/client/v4/accounts/{account.id}/images/v1/shared/blob", headers={"Authorization": f"Bearer {token}"}
    )
    assert blob.content == data

    sdk.images.v1.delete("shared", account_id=account.id)
    assert first.get(f"/{account.hash}/shared/public").status_code == 404
    assert second.get(f"/{account.hash}/shared/public").status_code == 404
