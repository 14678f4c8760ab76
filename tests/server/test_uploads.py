"""Direct creator uploads: CORS for the browser that posts, and secrets kept only as digests."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy import select

from enlarger.catalog.schema import direct_uploads
from enlarger.catalog.store import Catalog
from tests.imaging import quadrants, save
from tests.server.conftest import Tenant


def test_the_upload_url_answers_any_origin_whatever_the_outcome(tenant: Tenant) -> None:
    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    page = {"Origin": "https://shop.example"}
    refused = httpx.post(slot.upload_url, headers=page, files={"file": ("x.png", b"not an image", "image/png")})
    assert refused.status_code == 415
    assert refused.headers["access-control-allow-origin"] == "*"
    png = save(quadrants(40, 20), "png")
    done = httpx.post(slot.upload_url, headers=page, files={"file": ("x.png", png, "image/png")})
    assert done.status_code == 200
    assert done.headers["access-control-allow-origin"] == "*"
    unknown = httpx.post(slot.upload_url, headers=page, files={"file": ("x.png", png, "image/png")})
    assert unknown.status_code == 404 and unknown.headers["access-control-allow-origin"] == "*"


def test_upload_secrets_are_stored_only_as_digests(tenant: Tenant) -> None:
    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    secret = slot.upload_url.rstrip("/").rsplit("/", 1)[1]
    assert len(secret) >= 24
    catalog = Catalog(tenant.catalog_url)
    try:
        with catalog.engine.connect() as connection:
            rows = connection.execute(select(direct_uploads)).mappings().all()
    finally:
        catalog.close()
    assert [row["token_hash"] for row in rows] == [hashlib.sha256(secret.encode()).hexdigest()]
    assert all(secret not in str(value) for row in rows for value in row.values())
    database = tenant.data_dir / "catalog.db"
    if database.exists():  # SQLite: not in the file at all, not even in a page being rewritten
        assert secret.encode() not in database.read_bytes()
