"""The images API driven by the official ``cloudflare`` SDK against a running Enlarger."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips
from cloudflare import APIStatusError, Cloudflare
from sqlalchemy import update

from enlarger.catalog.schema import direct_uploads
from enlarger.catalog.store import Catalog, now
from enlarger.security.trailers import trailer_offset
from tests.imaging import gradient, quadrants, save
from tests.server.conftest import Start, Tenant, open_tenant


@pytest.fixture
def tenant(start: Start, tmp_path: Path, catalog_url: str) -> Iterator[Tenant]:
    """A running service on each catalog backend (SQLite, and PostgreSQL as in production)."""
    opened = open_tenant(start, tmp_path / "data", database_url=catalog_url)
    with opened.sdk:
        yield opened


def _jpeg(width: int = 320, height: int = 240) -> bytes:
    return save(gradient(width, height), "jpeg", Q=90)


def test_upload_by_file_returns_the_record_and_delivery_urls(tenant: Tenant) -> None:
    data = _jpeg()
    image = tenant.sdk.images.v1.create(
        account_id=tenant.account.id,
        file=("cat.jpg", io.BytesIO(data), "image/jpeg"),
        metadata={"owner": "ada", "n": "1"},
        require_signed_urls=False,
    )
    assert image.id and len(image.id) == 36
    assert image.filename == "cat.jpg"
    assert image.meta == {"owner": "ada", "n": "1"}
    assert image.require_signed_urls is False
    assert image.uploaded is not None
    assert image.variants == [f"{str(tenant.http.base_url).rstrip('/')}/{tenant.account.hash}/{image.id}/public"]
    delivered = tenant.http.get(image.variants[0], headers={"Accept": "image/webp"})
    assert delivered.status_code == 200
    assert delivered.headers["content-type"] == "image/webp"
    decoded = pyvips.Image.new_from_buffer(delivered.content, "")
    assert (decoded.width, decoded.height) == (320, 240)  # public is scale-down 1366×768: never enlarges


def test_blob_returns_exactly_the_uploaded_bytes(tenant: Tenant) -> None:
    data = _jpeg() + b""
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.jpg", io.BytesIO(data), "image/jpeg"))
    assert image.id is not None
    blob = tenant.sdk.images.v1.blobs.get(image.id, account_id=tenant.account.id)
    assert blob.read() == data


def test_custom_path_like_id_and_details(tenant: Tenant) -> None:
    tenant.sdk.images.v1.create(
        account_id=tenant.account.id, id="products/shoe/red.jpg", file=("red.jpg", io.BytesIO(_jpeg()), "image/jpeg")
    )
    got = tenant.sdk.images.v1.get("products/shoe/red.jpg", account_id=tenant.account.id)
    assert got.id == "products/shoe/red.jpg"
    response = tenant.http.get(f"/{tenant.account.hash}/products/shoe/red.jpg/public")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id="products/shoe/red.jpg", file=("x.jpg", io.BytesIO(_jpeg()), "image/jpeg")
        )
    assert caught.value.status_code == 409
    assert caught.value.body["errors"][0]["code"] == 5409  # type: ignore[index]


def test_upload_by_url_uses_the_safe_fetcher(tenant: Tenant, origin_url: str) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, url=f"{origin_url}/remote/photo.jpg")
    assert image.filename == "photo.jpg"
    assert image.id is not None
    blob = tenant.sdk.images.v1.blobs.get(image.id, account_id=tenant.account.id).read()
    assert pyvips.Image.new_from_buffer(blob, "").width == 200


def test_upload_by_url_to_an_internal_address_is_refused(tenant: Tenant) -> None:
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"url": (None, "http://127.0.0.1:9/secret.jpg")}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["errors"][0]["code"] == 9406
    assert tenant.http.get(f"{tenant.api}/v1/stats", headers=tenant.auth()).json()["result"]["count"]["current"] == 0


def test_list_v1_pages_and_v2_continuation(tenant: Tenant) -> None:
    ids = [f"img{n:02d}" for n in range(23)]
    for image_id in ids:
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id=image_id, file=("a.png", io.BytesIO(_png()), "image/png")
        )
    first: dict[str, Any] = tenant.sdk.images.v1.with_raw_response.list(
        account_id=tenant.account.id, page=1, per_page=10
    ).http_response.json()
    third: dict[str, Any] = tenant.sdk.images.v1.with_raw_response.list(
        account_id=tenant.account.id, page=3, per_page=10
    ).http_response.json()
    assert [i["id"] for i in first["result"]["images"]] == ids[:10]
    assert [i["id"] for i in third["result"]["images"]] == ids[20:]
    assert first["result_info"]["total_count"] == 23

    seen: list[str] = []
    token: str | None = None
    while True:
        page = tenant.sdk.images.v2.list(
            account_id=tenant.account.id, per_page=10, sort_order="asc", continuation_token=token
        )
        assert page.images is not None
        seen += [i.id for i in page.images if i.id]
        token = page.continuation_token
        if token is None:
            break
    assert seen == ids
    newest = tenant.sdk.images.v2.list(account_id=tenant.account.id, per_page=10)
    assert newest.images is not None and newest.images[0].id == ids[-1]


def test_edit_changes_metadata_and_signing(tenant: Tenant) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.jpg", io.BytesIO(_jpeg()), "image/jpeg"))
    assert image.id is not None
    edited = tenant.sdk.images.v1.edit(
        image.id, account_id=tenant.account.id, metadata={"k": "v"}, require_signed_urls=True
    )
    assert edited.meta == {"k": "v"} and edited.require_signed_urls is True
    assert tenant.http.get(f"/{tenant.account.hash}/{image.id}/public").status_code == 403


def test_delete_removes_image_blob_and_cached_outputs(tenant: Tenant) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.jpg", io.BytesIO(_jpeg()), "image/jpeg"))
    assert image.id is not None
    url = f"/{tenant.account.hash}/{image.id}/public"
    assert tenant.http.get(url).status_code == 200
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "HIT"
    cached = _cache_files(tenant)
    assert cached
    tenant.sdk.images.v1.delete(image.id, account_id=tenant.account.id)
    assert tenant.http.get(url).status_code == 404
    assert _cache_files(tenant) == []
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()] == []
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.get(image.id, account_id=tenant.account.id)
    assert caught.value.status_code == 404


def test_variants_crud_and_delivery(tenant: Tenant) -> None:
    sdk, account = tenant.sdk, tenant.account.id
    created = sdk.images.v1.variants.create(
        account_id=account,
        id="thumb",
        options={"fit": "cover", "width": 100, "height": 50, "metadata": "none"},
        never_require_signed_urls=False,
    )
    assert created.variant is not None and created.variant.id == "thumb"
    raw: dict[str, Any] = sdk.images.v1.variants.with_raw_response.list(account_id=account).http_response.json()
    listed = raw["result"]["variants"]
    assert set(listed) == {"public", "thumb"}
    assert listed["thumb"]["options"] == {"fit": "cover", "width": 100, "height": 50, "metadata": "none"}
    got = sdk.images.v1.variants.get("thumb", account_id=account)
    assert got.variant is not None and got.variant.options.width == 100

    image = sdk.images.v1.create(account_id=account, file=("q.png", io.BytesIO(_png()), "image/png"))
    url = f"/{tenant.account.hash}/{image.id}/thumb"
    first = pyvips.Image.new_from_buffer(tenant.http.get(url).content, "")
    assert (first.width, first.height) == (100, 50)

    sdk.images.v1.variants.edit(
        "thumb", account_id=account, options={"fit": "cover", "width": 60, "height": 60, "metadata": "none"}
    )
    again = tenant.http.get(url)
    assert again.headers["x-enlarger-cache"] == "MISS"  # the variant's outputs were purged
    resized = pyvips.Image.new_from_buffer(again.content, "")
    assert (resized.width, resized.height) == (60, 60)

    sdk.images.v1.variants.delete("thumb", account_id=account)
    assert tenant.http.get(url).status_code == 404
    with pytest.raises(APIStatusError) as caught:
        sdk.images.v1.variants.delete("public", account_id=account)
    assert caught.value.status_code == 400


def test_keys_list_rotate_delete(tenant: Tenant) -> None:
    sdk, account = tenant.sdk, tenant.account.id
    keys = sdk.images.v1.keys.list(account_id=account).keys
    assert keys is not None and [k.name for k in keys] == ["default"]
    before = keys[0].value
    updated = sdk.images.v1.keys.update("extra", account_id=account).keys
    assert updated is not None and {k.name for k in updated} == {"default", "extra"}
    rotated = sdk.images.v1.keys.update("default", account_id=account).keys
    assert rotated is not None and next(k.value for k in rotated if k.name == "default") != before
    left = sdk.images.v1.keys.delete("extra", account_id=account).keys
    assert left is not None and [k.name for k in left] == ["default"]


def test_stats_count_and_quota(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", image_quota=2)
    for n in range(2):
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id=f"s{n}", file=("a.png", io.BytesIO(_png()), "image/png")
        )
    stat = tenant.sdk.images.v1.stats.get(account_id=tenant.account.id)
    assert stat.count is not None and stat.count.current == 2 and stat.count.allowed == 2
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.png", io.BytesIO(_png()), "image/png"))
    assert caught.value.status_code == 429
    assert len([p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()]) == 2


def test_direct_upload_then_tokenless_upload_then_delivery(tenant: Tenant) -> None:
    sdk, account = tenant.sdk, tenant.account.id
    slot = sdk.images.v2.direct_uploads.create(account_id=account, metadata={"from": "widget"})
    assert slot.id and slot.upload_url
    draft = sdk.images.v1.get(slot.id, account_id=account)
    assert draft.model_extra is not None and draft.model_extra.get("draft") is True
    assert tenant.http.get(f"/{tenant.account.hash}/{slot.id}/public").status_code == 404

    posted = httpx.post(slot.upload_url, files={"file": ("me.png", _png(), "image/png")})
    assert posted.status_code == 200, posted.text
    assert posted.json()["result"]["id"] == slot.id
    assert posted.json()["result"]["meta"] == {"from": "widget"}
    delivered = tenant.http.get(f"/{tenant.account.hash}/{slot.id}/public")
    assert delivered.status_code == 200
    assert pyvips.Image.new_from_buffer(delivered.content, "").width == 200

    again = httpx.post(slot.upload_url, files={"file": ("me.png", _png(), "image/png")})
    assert again.status_code == 404
    assert again.json()["success"] is False


def test_direct_upload_rejects_invalid_file_and_keeps_slot(tenant: Tenant) -> None:
    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    bad = httpx.post(slot.upload_url, files={"file": ("x.png", b"<html>not an image</html>", "image/png")})
    assert bad.status_code == 415
    assert "not" in bad.json()["errors"][0]["message"]
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()] == []
    good = httpx.post(slot.upload_url, files={"file": ("x.png", _png(), "image/png")})
    assert good.status_code == 200


def test_direct_upload_expiry_bounds(tenant: Tenant) -> None:
    response = tenant.http.post(
        f"{tenant.api}/v2/direct_upload", headers=tenant.auth(), files={"expiry": (None, "2000-01-01T00:00:00Z")}
    )
    assert response.status_code == 400
    assert "between 2 minutes and 6 hours" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, 10001),
        ({"Authorization": "Basic abc"}, 401, 10001),
        ({"Authorization": "Bearer wrong"}, 403, 10000),
    ],
)
def test_bad_tokens_get_the_documented_body(tenant: Tenant, headers: dict[str, str], status: int, code: int) -> None:
    response = tenant.http.get(f"{tenant.api}/v1", headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["errors"][0]["code"] == code


def test_token_of_one_account_cannot_read_another(tenant: Tenant) -> None:
    catalog = Catalog(tenant.catalog_url)
    other = catalog.create_account("other")
    catalog.close()
    response = tenant.http.get(f"/client/v4/accounts/{other.id}/images/v1", headers=tenant.auth())
    assert response.status_code == 403


def test_sdk_raises_on_envelope_errors(tenant: Tenant) -> None:
    anonymous = Cloudflare(api_token="nope", base_url=tenant.sdk.base_url, max_retries=0)
    with pytest.raises(APIStatusError) as caught:
        anonymous.images.v1.stats.get(account_id=tenant.account.id)
    assert caught.value.status_code == 403


def test_upload_validation_errors(tenant: Tenant) -> None:
    api, auth = f"{tenant.api}/v1", tenant.auth()
    cases: list[tuple[dict[str, tuple[str | None, bytes | str, str] | tuple[None, str]], int]] = [
        ({"file": ("a.txt", b"hello", "text/plain")}, 415),
        ({"url": (None, "x"), "file": ("a.png", _png(), "image/png")}, 400),
        ({"metadata": (None, "{not json"), "file": ("a.png", _png(), "image/png")}, 400),
        ({"metadata": (None, json.dumps({"k": "v" * 2000})), "file": ("a.png", _png(), "image/png")}, 400),
        ({"id": (None, "../escape"), "file": ("a.png", _png(), "image/png")}, 400),
        ({"requireSignedURLs": (None, "perhaps"), "file": ("a.png", _png(), "image/png")}, 400),
    ]
    for files, status in cases:
        response = tenant.http.post(api, headers=auth, files=files)
        assert response.status_code == status, (files.keys(), response.text)
        assert response.json()["errors"][0]["message"]
    assert tenant.sdk.images.v1.stats.get(account_id=tenant.account.id).count.current == 0  # type: ignore[union-attr]


def test_oversize_upload_is_refused_without_storing(tenant: Tenant) -> None:
    big = save(gradient(3000, 3000), "png", compression=0)
    assert len(big) > 10 * 1024 * 1024
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"file": ("big.png", big, "image/png")}
    )
    assert response.status_code == 413
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()] == []


def _png() -> bytes:
    return save(quadrants(200, 100), "png")


def _cache_files(tenant: Tenant) -> list[str]:
    return sorted(p.name for p in (tenant.data_dir / "cache").glob("??/*"))


HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="alert(1)">'
    b'<script>alert(document.cookie)</script><rect width="120" height="60" fill="red"/></svg>'
)


def test_svg_upload_keeps_original_bytes_and_delivers_sanitized(tenant: Tenant) -> None:
    image = tenant.sdk.images.v1.create(
        account_id=tenant.account.id, id="logo.svg", file=("logo.svg", io.BytesIO(HOSTILE_SVG), "image/svg+xml")
    )
    assert image.id == "logo.svg"
    blob = tenant.http.get(f"{tenant.api}/v1/logo.svg/blob", headers=tenant.auth())
    assert blob.content == HOSTILE_SVG  # the stored original is exactly what was uploaded ...
    assert "sandbox" in blob.headers["content-security-policy"]  # ... and cannot run if opened
    assert blob.headers["content-disposition"] == "attachment"
    delivered = tenant.http.get(f"/{tenant.account.hash}/logo.svg/public")
    assert delivered.headers["content-type"].startswith("image/svg+xml")
    assert b"script" not in delivered.content and b"onload" not in delivered.content
    assert "script-src" not in delivered.headers["content-security-policy"]
    assert delivered.headers["x-content-type-options"] == "nosniff"
    tenant.sdk.images.v1.variants.create(
        account_id=tenant.account.id,
        id="small",
        options={"fit": "scale-down", "width": 60, "height": 60, "metadata": "none"},
    )
    raster = tenant.http.get(f"/{tenant.account.hash}/logo.svg/small", headers={"Accept": "image/webp"})
    assert raster.headers["content-type"].startswith("image/svg+xml")  # a scalable image stays scalable


def test_svg_with_entities_is_refused_at_upload(tenant: Tenant) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    )
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"file": ("x.svg", laughs, "image/svg+xml")}
    )
    assert response.status_code == 415
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()] == []


def test_upload_with_a_trailer_keeps_it_in_the_blob_but_never_delivers_it(tenant: Tenant) -> None:
    cropped = save(gradient(200, 100), "png")
    leaky = cropped + save(gradient(200, 400), "png")[30:]  # what the editor "cropped away"
    tenant.sdk.images.v1.create(
        account_id=tenant.account.id, id="shot.png", file=("shot.png", io.BytesIO(leaky), "image/png")
    )
    blob = tenant.http.get(f"{tenant.api}/v1/shot.png/blob", headers=tenant.auth())
    assert blob.content == leaky
    for accept in ("image/png", "image/webp", "image/avif"):
        delivered = tenant.http.get(f"/{tenant.account.hash}/shot.png/public", headers={"Accept": accept})
        assert delivered.status_code == 200
        assert trailer_offset(delivered.content) is None and len(delivered.content) < len(leaky)


def test_direct_upload_expired_or_oversize_leaves_nothing(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", max_upload_bytes=20_000)
    expiring = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id, id="late")
    catalog = Catalog(tenant.catalog_url)
    with catalog.engine.begin() as connection:  # let the clock run out without waiting 2 minutes
        connection.execute(update(direct_uploads).values(expires=now() - timedelta(seconds=1)))
    catalog.close()
    assert expiring.upload_url
    late = httpx.post(expiring.upload_url, files={"file": ("a.png", _png(), "image/png")})
    assert late.status_code == 410 and "expired" in late.json()["errors"][0]["message"]
    with pytest.raises(APIStatusError):
        tenant.sdk.images.v1.get("late", account_id=tenant.account.id)  # the draft went with it

    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    big = save(gradient(400, 400), "png", compression=0)
    oversize = httpx.post(slot.upload_url, files={"file": ("big.png", big, "image/png")})
    assert oversize.status_code == 413
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file()] == []


def test_editing_an_image_purges_its_cached_outputs(tenant: Tenant) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.png", io.BytesIO(_png()), "image/png"))
    assert image.id is not None
    url = f"/{tenant.account.hash}/{image.id}/public"
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "MISS"
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "HIT"
    assert len(_cache_files(tenant)) == 1
    tenant.sdk.images.v1.edit(image.id, account_id=tenant.account.id, metadata={"k": "v"})
    assert _cache_files(tenant) == []  # purged, though this edit changes no pixel
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "MISS"


def test_deleting_a_variant_purges_only_its_cached_outputs(tenant: Tenant) -> None:
    sdk, account = tenant.sdk, tenant.account.id
    sdk.images.v1.variants.create(
        account_id=account, id="thumb", options={"fit": "cover", "width": 30, "height": 30, "metadata": "none"}
    )
    image = sdk.images.v1.create(account_id=account, file=("q.png", io.BytesIO(_png()), "image/png"))
    base = f"/{tenant.account.hash}/{image.id}"
    assert tenant.http.get(f"{base}/public").status_code == 200
    public_only = _cache_files(tenant)
    assert tenant.http.get(f"{base}/thumb").status_code == 200
    assert len(_cache_files(tenant)) == 2
    sdk.images.v1.variants.delete("thumb", account_id=account)
    assert _cache_files(tenant) == public_only
    assert tenant.http.get(f"{base}/public").headers["x-enlarger-cache"] == "HIT"
