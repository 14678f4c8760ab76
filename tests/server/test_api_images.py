"""The images API driven by the official ``cloudflare`` SDK against a running Enlarger,
once with an SQLite catalog and once with PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips
from cloudflare import APIStatusError, Cloudflare
from sqlalchemy import insert, update

from enlarger.catalog.schema import batch_tokens, direct_uploads, images
from enlarger.catalog.store import Catalog, Image, Variant, _columns, now
from enlarger.formats import trailer_offset
from enlarger.storage.ownership import MARKER_KEY
from tests.imaging import gradient, quadrants, save
from tests.server.conftest import Start, Tenant, open_tenant


@dataclass
class Hosted(Tenant):
    """A tenant whose catalog may be PostgreSQL: tests reach it through ``catalog()``."""

    def catalog(self) -> Catalog:
        return Catalog(self.catalog_url)


def _open(start: Start, tmp_path: Path, catalog_url: str, **settings: Any) -> Hosted:
    """An account and token in the catalog at ``catalog_url``, and a service running on it."""
    opened = open_tenant(start, tmp_path / "data", database_url=catalog_url, **settings)
    return Hosted(**{f.name: getattr(opened, f.name) for f in fields(Tenant)})


@pytest.fixture
def tenant(start: Start, tmp_path: Path, catalog_url: str) -> Iterator[Hosted]:
    """The API on SQLite, then on PostgreSQL as in production (``catalog_url`` is parametrised over both)."""
    opened = _open(start, tmp_path, catalog_url)
    with opened.sdk:
        yield opened


def _jpeg(width: int = 320, height: int = 240) -> bytes:
    return save(gradient(width, height), "jpeg", Q=90)


def test_upload_by_file_returns_the_record_and_delivery_urls(tenant: Hosted) -> None:
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


def test_blob_returns_exactly_the_uploaded_bytes(tenant: Hosted) -> None:
    data = _jpeg() + b""
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.jpg", io.BytesIO(data), "image/jpeg"))
    assert image.id is not None
    blob = tenant.sdk.images.v1.blobs.get(image.id, account_id=tenant.account.id)
    assert blob.read() == data


def test_custom_path_like_id_and_details(tenant: Hosted) -> None:
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


def test_upload_by_url_uses_the_safe_fetcher(tenant: Hosted, origin_url: str) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, url=f"{origin_url}/remote/photo.jpg")
    assert image.filename == "photo.jpg"
    assert image.id is not None
    blob = tenant.sdk.images.v1.blobs.get(image.id, account_id=tenant.account.id).read()
    assert pyvips.Image.new_from_buffer(blob, "").width == 200


def test_upload_by_url_to_an_internal_address_is_refused(tenant: Hosted) -> None:
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"url": (None, "http://127.0.0.1:9/secret.jpg")}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["errors"][0]["code"] == 9406
    assert tenant.http.get(f"{tenant.api}/v1/stats", headers=tenant.auth()).json()["result"]["count"]["current"] == 0


def test_list_v1_pages_and_v2_continuation(tenant: Hosted) -> None:
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


def test_edit_changes_metadata_and_signing(tenant: Hosted) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.jpg", io.BytesIO(_jpeg()), "image/jpeg"))
    assert image.id is not None
    edited = tenant.sdk.images.v1.edit(
        image.id, account_id=tenant.account.id, metadata={"k": "v"}, require_signed_urls=True
    )
    assert edited.meta == {"k": "v"} and edited.require_signed_urls is True
    assert tenant.http.get(f"/{tenant.account.hash}/{image.id}/public").status_code == 403


def test_delete_removes_image_blob_and_cached_outputs(tenant: Hosted) -> None:
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
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.get(image.id, account_id=tenant.account.id)
    assert caught.value.status_code == 404


def test_variants_crud_and_delivery(tenant: Hosted) -> None:
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


def test_keys_list_rotate_delete(tenant: Hosted) -> None:
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


def test_stats_count_and_quota(start: Start, tmp_path: Path, catalog_url: str) -> None:
    tenant = _open(start, tmp_path, catalog_url, image_quota=2)
    for n in range(2):
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id=f"s{n}", file=("a.png", io.BytesIO(_png()), "image/png")
        )
    stat = tenant.sdk.images.v1.stats.get(account_id=tenant.account.id)
    assert stat.count is not None and stat.count.current == 2 and stat.count.allowed == 2
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.png", io.BytesIO(_png()), "image/png"))
    assert caught.value.status_code == 429
    assert len([p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY]) == 2


def test_direct_upload_then_tokenless_upload_then_delivery(tenant: Hosted) -> None:
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


def test_direct_upload_rejects_invalid_file_and_keeps_slot(tenant: Hosted) -> None:
    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    bad = httpx.post(slot.upload_url, files={"file": ("x.png", b"<html>not an image</html>", "image/png")})
    assert bad.status_code == 415
    assert "not" in bad.json()["errors"][0]["message"]
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []
    good = httpx.post(slot.upload_url, files={"file": ("x.png", _png(), "image/png")})
    assert good.status_code == 200


def test_direct_upload_expiry_bounds(tenant: Hosted) -> None:
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
def test_bad_tokens_get_the_documented_body(tenant: Hosted, headers: dict[str, str], status: int, code: int) -> None:
    response = tenant.http.get(f"{tenant.api}/v1", headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["errors"][0]["code"] == code


def test_token_of_one_account_cannot_read_another(tenant: Hosted) -> None:
    catalog = tenant.catalog()
    other = catalog.create_account("other")
    catalog.close()
    response = tenant.http.get(f"/client/v4/accounts/{other.id}/images/v1", headers=tenant.auth())
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["errors"][0]["code"] == 10000


def test_sdk_raises_on_envelope_errors(tenant: Hosted) -> None:
    anonymous = Cloudflare(api_token="nope", base_url=tenant.sdk.base_url, max_retries=0)
    with pytest.raises(APIStatusError) as caught:
        anonymous.images.v1.stats.get(account_id=tenant.account.id)
    assert caught.value.status_code == 403


def test_upload_validation_errors(tenant: Hosted) -> None:
    api, auth = f"{tenant.api}/v1", tenant.auth()
    cases: list[tuple[dict[str, tuple[str | None, bytes | str, str] | tuple[None, str]], int, int]] = [
        ({"file": ("a.txt", b"hello", "text/plain")}, 415, 9412),  # hosting.md: not an image 415/9412
        ({"url": (None, "x"), "file": ("a.png", _png(), "image/png")}, 400, 5400),
        ({"metadata": (None, "{not json"), "file": ("a.png", _png(), "image/png")}, 400, 5400),
        ({"metadata": (None, json.dumps({"k": "v" * 2000})), "file": ("a.png", _png(), "image/png")}, 400, 5400),
        ({"id": (None, "../escape"), "file": ("a.png", _png(), "image/png")}, 400, 5400),
        ({"requireSignedURLs": (None, "perhaps"), "file": ("a.png", _png(), "image/png")}, 400, 5400),
    ]
    for files, status, code in cases:
        response = tenant.http.post(api, headers=auth, files=files)
        assert response.status_code == status, (files.keys(), response.text)
        error = response.json()["errors"][0]
        assert (error["code"], bool(error["message"])) == (code, True), (files.keys(), error)
    assert tenant.sdk.images.v1.stats.get(account_id=tenant.account.id).count.current == 0  # type: ignore[union-attr]


def test_oversize_upload_is_refused_without_storing(tenant: Hosted) -> None:
    big = save(gradient(3000, 3000), "png", compression=0)
    assert len(big) > 10 * 1024 * 1024
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"file": ("big.png", big, "image/png")}
    )
    assert response.status_code == 413
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []


def _png() -> bytes:
    return save(quadrants(200, 100), "png")


def _cache_files(tenant: Hosted) -> list[str]:
    return sorted(p.name for p in (tenant.data_dir / "cache").glob("??/*"))


HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="alert(1)">'
    b'<script>alert(document.cookie)</script><rect width="120" height="60" fill="red"/></svg>'
)


def test_svg_upload_keeps_original_bytes_and_delivers_sanitized(tenant: Hosted) -> None:
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


def test_svg_with_entities_is_refused_at_upload(tenant: Hosted) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    )
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"file": ("x.svg", laughs, "image/svg+xml")}
    )
    assert response.status_code == 415
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []


def test_upload_with_a_trailer_keeps_it_in_the_blob_but_never_delivers_it(tenant: Hosted) -> None:
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


def test_direct_upload_expired_or_oversize_leaves_nothing(start: Start, tmp_path: Path, catalog_url: str) -> None:
    tenant = _open(start, tmp_path, catalog_url, max_upload_bytes=20_000)
    expiring = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id, id="late")
    catalog = tenant.catalog()
    with catalog.engine.begin() as connection:  # let the clock run out without waiting 2 minutes
        connection.execute(update(direct_uploads).values(expires=now() - timedelta(seconds=1)))
    catalog.close()
    assert expiring.upload_url
    late = httpx.post(expiring.upload_url, files={"file": ("a.png", _png(), "image/png")})
    assert late.status_code == 410 and "expired" in late.json()["errors"][0]["message"]
    with pytest.raises(APIStatusError) as gone:
        tenant.sdk.images.v1.get("late", account_id=tenant.account.id)  # the draft went with it
    assert gone.value.status_code == 404

    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    big = save(gradient(400, 400), "png", compression=0)
    oversize = httpx.post(slot.upload_url, files={"file": ("big.png", big, "image/png")})
    assert oversize.status_code == 413
    assert [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY] == []


def test_editing_an_image_purges_its_cached_outputs(tenant: Hosted) -> None:
    image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.png", io.BytesIO(_png()), "image/png"))
    assert image.id is not None
    url = f"/{tenant.account.hash}/{image.id}/public"
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "MISS"
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "HIT"
    assert len(_cache_files(tenant)) == 1
    tenant.sdk.images.v1.edit(image.id, account_id=tenant.account.id, metadata={"k": "v"})
    assert _cache_files(tenant) == []  # purged, though this edit changes no pixel
    assert tenant.http.get(url).headers["x-enlarger-cache"] == "MISS"


def test_deleting_a_variant_purges_only_its_cached_outputs(tenant: Hosted) -> None:
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


def _post(tenant: Hosted, path: str, **kwargs: Any) -> httpx.Response:
    return tenant.http.post(f"{tenant.api}{path}", headers=tenant.auth(), **kwargs)


def _get(tenant: Hosted, path: str, **kwargs: Any) -> httpx.Response:
    return tenant.http.get(f"{tenant.api}{path}", headers=tenant.auth(), **kwargs)


def _listed_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [image["id"] for image in response.json()["result"]["images"]]


def test_creator_on_uploads_edits_direct_uploads_and_every_record(tenant: Hosted, origin_url: str) -> None:
    """``creator`` is accepted by Upload an image (file and URL; SDK ``V1CreateParams``), Update image
    (``V1EditParams``) and Create authenticated direct upload URL V2 (``DirectUploadCreateParams``),
    and every image record names it (SDK ``Image.creator``; null when unset)."""
    sdk, account = tenant.sdk, tenant.account.id
    by_file = sdk.images.v1.create(account_id=account, file=("a.png", io.BytesIO(_png()), "image/png"), creator="ada")
    by_url = sdk.images.v1.create(account_id=account, url=f"{origin_url}/remote/photo.jpg", creator="bob")
    assert (by_file.creator, by_url.creator) == ("ada", "bob")
    plain = _post(tenant, "/v1", files={"file": ("b.png", _png(), "image/png")}).json()["result"]
    assert "creator" in plain and plain["creator"] is None
    edited = sdk.images.v1.edit(plain["id"], account_id=account, creator="cy")
    assert edited.creator == "cy" and sdk.images.v1.get(plain["id"], account_id=account).creator == "cy"
    cleared = tenant.http.patch(f"{tenant.api}/v1/{by_file.id}", headers=tenant.auth(), json={"creator": ""})
    assert cleared.json()["result"]["creator"] is None

    slot = sdk.images.v2.direct_uploads.create(account_id=account, creator="dee")
    assert slot.id and slot.upload_url
    assert sdk.images.v1.get(slot.id, account_id=account).creator == "dee"
    posted = httpx.post(slot.upload_url, files={"file": ("c.png", _png(), "image/png")})
    assert posted.json()["result"]["creator"] == "dee"
    too_long = _post(tenant, "/v1", files={"file": ("d.png", _png(), "image/png"), "creator": (None, "x" * 1025)})
    assert too_long.status_code == 400 and "creator" in too_long.json()["errors"][0]["message"]


def test_lists_filter_by_creator_and_empty_creator(tenant: Hosted) -> None:
    """List images (v1) and List images V2 take ``creator``; "Setting to empty string "" will return
    images where creator field is not set" (SDK ``V1ListParams``/``V2ListParams``)."""
    sdk, account = tenant.sdk, tenant.account.id
    for image_id, creator in [("a1", "ada"), ("a2", "ada"), ("b1", "bob"), ("n1", "")]:
        sdk.images.v1.create(
            account_id=account, id=image_id, file=("a.png", io.BytesIO(_png()), "image/png"), creator=creator
        )
    v1 = sdk.images.v1.with_raw_response.list(account_id=account, creator="ada").http_response
    assert _listed_ids(v1) == ["a1", "a2"] and v1.json()["result_info"]["total_count"] == 2
    v2 = sdk.images.v2.list(account_id=account, creator="bob", sort_order="asc")
    assert [i.id for i in v2.images or []] == ["b1"]
    # the SDK drops empty query values, so "creator=" goes over plain HTTP
    assert _listed_ids(_get(tenant, "/v1", params={"creator": ""})) == ["n1"]
    assert _listed_ids(_get(tenant, "/v2", params={"creator": ""})) == ["n1"]
    assert _listed_ids(_get(tenant, "/v2", params={"creator": "nobody"})) == []


def _with_metadata(tenant: Hosted, image_id: str, meta: dict[str, Any]) -> None:
    """Upload with ``metadata`` as a JSON text (upload-URL.mdx), so numbers and booleans stay typed."""
    files = {"file": ("a.png", _png(), "image/png"), "id": (None, image_id), "metadata": (None, json.dumps(meta))}
    assert _post(tenant, "/v1", files=files).status_code == 200


def test_v2_metadata_filters_through_the_sdk(tenant: Hosted) -> None:
    """List images V2 ``meta.<field>[<operator>]=<value>`` (SDK ``images.v2.list`` docstring): eq with
    and without a type, numeric ranges, ``in`` pipe lists, nesting, several filters ANDed."""
    sdk, account = tenant.sdk, tenant.account.id
    _with_metadata(tenant, "p1", {"status": "active", "priority": 5, "enabled": True, "region": "us-east"})
    _with_metadata(tenant, "p2", {"status": "active", "priority": 1, "enabled": False, "region": "eu-west"})
    _with_metadata(tenant, "p3", {"status": "deleted", "priority": 9, "owner": {"team": {"name": "red"}}})
    sdk.images.v1.create(account_id=account, id="p4", file=("a.png", io.BytesIO(_png()), "image/png"))

    def ids(meta: dict[str, str]) -> list[str]:
        listed = sdk.images.v2.list(account_id=account, sort_order="asc", meta=meta)  # type: ignore[arg-type]
        return [i.id for i in listed.images or [] if i.id]

    assert ids({"status[eq]": "active"}) == ["p1", "p2"]
    assert ids({"priority[eq:number]": "5"}) == ["p1"]
    assert ids({"enabled[eq:boolean]": "false"}) == ["p2"]
    assert ids({"priority[gte:number]": "5"}) == ["p1", "p3"]
    assert ids({"priority[lt]": "5"}) == ["p2"]
    assert ids({"region[in]": "us-east|us-west|eu-west"}) == ["p1", "p2"]
    assert ids({"priority[in:number]": "1|9"}) == ["p2", "p3"]
    assert ids({"owner.team.name[eq:string]": "red"}) == ["p3"]
    assert ids({"status[eq]": "active", "priority[gt:number]": "2"}) == ["p1"]
    assert ids({"priority[eq:number]": "5", "priority[lte:number]": "3"}) == []  # contradictory: nothing
    raw = _get(tenant, "/v2", params={"meta.status[eq]": "deleted", "sort_order": "asc"})
    assert _listed_ids(raw) == ["p3"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"meta.status": "x"}, "meta.<field>[<operator>]"),
        ({"meta.status[regex]": "x"}, "unknown operator"),
        ({"meta.priority[gt:number]": "high"}, "not a number"),
        ({"meta.region[in]": "|".join("abcdefghijk")}, "at most 10 values"),
        ({"meta.a.b.c.d.e.f[eq]": "x"}, "at most 5 levels"),
        ({f"meta.k{n}[eq]": "x" for n in range(6)}, "at most 5 metadata filters"),
    ],
)
def test_malformed_metadata_filters_get_400(tenant: Hosted, params: dict[str, str], message: str) -> None:
    """List images V2's filter limits (SDK docstring) answered as 400 with a reason, never a 500."""
    response = _get(tenant, "/v2", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["errors"][0]["code"] == 5400
    assert message in body["errors"][0]["message"]


def test_drafts_are_not_listed(tenant: Hosted) -> None:
    """direct-creator-upload.mdx: "a new draft image record is created, but the image will not appear
    in the list of images" — until the creator uploads it."""
    sdk, account = tenant.sdk, tenant.account.id
    sdk.images.v1.create(account_id=account, id="kept", file=("a.png", io.BytesIO(_png()), "image/png"))
    slot = sdk.images.v2.direct_uploads.create(account_id=account)
    assert slot.id and slot.upload_url
    v1 = _get(tenant, "/v1")
    assert _listed_ids(v1) == ["kept"] and v1.json()["result_info"]["total_count"] == 1
    assert [i.id for i in sdk.images.v2.list(account_id=account).images or []] == ["kept"]
    assert httpx.post(slot.upload_url, files={"file": ("me.png", _png(), "image/png")}).status_code == 200
    assert sorted(_listed_ids(_get(tenant, "/v1"))) == sorted(["kept", slot.id])


def test_custom_ids_cannot_require_signed_urls(tenant: Hosted) -> None:
    """upload-custom-path.mdx: "Images with custom ID paths cannot be made private using signed URL
    tokens" (also direct-creator-upload.mdx): refused with 400 on upload, direct upload and update."""
    sdk, account = tenant.sdk, tenant.account.id
    with pytest.raises(APIStatusError) as caught:
        sdk.images.v1.create(
            account_id=account,
            id="shop/red.png",
            file=("a.png", io.BytesIO(_png()), "image/png"),
            require_signed_urls=True,
        )
    assert caught.value.status_code == 400
    assert "custom ID" in caught.value.body["errors"][0]["message"]  # type: ignore[index]
    with pytest.raises(APIStatusError) as direct:
        sdk.images.v2.direct_uploads.create(account_id=account, id="shop/blue.png", require_signed_urls=True)
    assert direct.value.status_code == 400
    sdk.images.v1.create(account_id=account, id="shop/red.png", file=("a.png", io.BytesIO(_png()), "image/png"))
    with pytest.raises(APIStatusError) as edited:
        sdk.images.v1.edit("shop/red.png", account_id=account, require_signed_urls=True)
    assert edited.value.status_code == 400
    assert sdk.images.v1.get("shop/red.png", account_id=account).require_signed_urls is False
    private = sdk.images.v1.create(
        account_id=account, file=("a.png", io.BytesIO(_png()), "image/png"), require_signed_urls=True
    )
    assert private.require_signed_urls is True  # generated IDs may be private
    assert sdk.images.v1.stats.get(account_id=account).count.current == 2  # type: ignore[union-attr]


def test_config_patch_sets_flexible_variants_and_browser_ttl(tenant: Hosted) -> None:
    """``PATCH /images/v1/config`` with ``{"flexible_variants": true}`` (enable-flexible-variants.mdx)
    and ``{"browser_ttl": 31536000}``, one hour to one year (browser-ttl.mdx). The SDK has no method
    for it; its generic ``patch`` goes through the same client and envelope."""
    path = f"/accounts/{tenant.account.id}/images/v1/config"
    enabled = tenant.sdk.patch(path, body={"flexible_variants": True}, cast_to=object)
    assert enabled == {
        "result": {"flexible_variants": True, "browser_ttl": 172800, "preserve_content_credentials": False},
        "success": True,
        "errors": [],
        "messages": [],
    }
    year = tenant.sdk.patch(path, body={"browser_ttl": 31536000}, cast_to=object)
    assert year["result"] == {  # type: ignore[index]
        "flexible_variants": True,
        "browser_ttl": 31536000,
        "preserve_content_credentials": False,
    }
    assert _get(tenant, "/v1/config").json()["result"]["browser_ttl"] == 31536000
    for bad, message in [
        ({"browser_ttl": 60}, "between 3600 (one hour) and 31536000 (one year)"),
        ({"browser_ttl": 31536001}, "between 3600"),
        ({"browser_ttl": "soon"}, "whole number of seconds"),
        ({"flexible_variants": "perhaps"}, "true or false"),
        ({"flexible": True}, "unknown field"),
    ]:
        response = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json=bad)
        assert response.status_code == 400 and message in response.json()["errors"][0]["message"], bad
    reset = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json={"browser_ttl": None})
    assert reset.json()["result"]["browser_ttl"] == 172800


def test_variant_browser_ttl_option(tenant: Hosted) -> None:
    """browser-ttl.mdx: a named variant's ``options.browser_ttl`` (seconds, one hour to one year)."""
    body = {"id": "avatar", "options": {"fit": "cover", "width": 100, "height": 100, "browser_ttl": 86400}}
    created = _post(tenant, "/v1/variants", json=body)
    assert created.json()["result"]["variant"]["options"]["browser_ttl"] == 86400
    got = tenant.sdk.images.v1.variants.get("avatar", account_id=tenant.account.id)
    assert got.variant is not None and got.variant.options.width == 100
    edited = tenant.http.patch(
        f"{tenant.api}/v1/variants/avatar", headers=tenant.auth(), json={"neverRequireSignedURLs": True}
    )
    assert edited.json()["result"]["variant"]["options"]["browser_ttl"] == 86400  # kept when options are not sent
    bad = _post(tenant, "/v1/variants", json={"id": "x", "options": {"width": 10, "browser_ttl": 5}})
    assert bad.status_code == 400 and "browser_ttl" in bad.json()["errors"][0]["message"]


def test_variants_are_limited_to_one_hundred(tenant: Hosted) -> None:
    """create-variants.mdx: up to 100 variants per account; the 101st is refused with a reason."""
    catalog = tenant.catalog()
    for n in range(99):  # with "public", the account holds 100
        catalog.add_variant(tenant.account.id, Variant(f"v{n}", {"width": 10}, False))
    catalog.close()
    with pytest.raises(APIStatusError) as caught:
        tenant.sdk.images.v1.variants.create(
            account_id=tenant.account.id,
            id="onemore",
            options={"fit": "contain", "width": 10, "height": 10, "metadata": "none"},
        )
    assert caught.value.status_code == 429
    assert "at most 100 variants" in caught.value.body["errors"][0]["message"]  # type: ignore[index]
    listed = tenant.sdk.images.v1.variants.with_raw_response.list(account_id=tenant.account.id).http_response.json()
    assert len(listed["result"]["variants"]) == 100


def test_list_page_sizes(tenant: Hosted) -> None:
    """List images (v1): "up to 100 images with one request"; List images V2: "up to 1000 results per
    page" (SDK docstrings). Larger ``per_page`` values are served at the documented size."""
    catalog = tenant.catalog()
    template = Image(
        account_id=tenant.account.id, id="", filename="a.png", creator=None, uploaded=now(), require_signed=False,
        meta={}, draft=False, size=1, content_type="image/png", width=1, height=1, content_hash="0" * 64, blob_key=None,
    )  # fmt: skip
    with catalog.engine.begin() as c:  # rows only: listings never read the blobs
        c.execute(insert(images), [_columns(replace(template, id=f"i{n:04d}")) for n in range(1001)])
    catalog.close()
    default = _get(tenant, "/v1")
    assert len(_listed_ids(default)) == 100 and default.json()["result_info"]["per_page"] == 100
    asked = _get(tenant, "/v1", params={"per_page": 1000, "page": 11})
    assert _listed_ids(asked) == ["i1000"] and asked.json()["result_info"]["total_count"] == 1001
    v2 = _get(tenant, "/v2", params={"per_page": 5000, "sort_order": "asc"})
    assert len(_listed_ids(v2)) == 1000 and v2.json()["result"]["continuation_token"] is not None
    token = v2.json()["result"]["continuation_token"]
    rest = _get(tenant, "/v2", params={"continuation_token": token, "sort_order": "asc"})
    assert _listed_ids(rest) == ["i1000"] and rest.json()["result"]["continuation_token"] is None


def test_batch_token_authorises_the_batch_api(tenant: Hosted) -> None:
    """images-batch.mdx: ``GET /images/v1/batch_token`` → ``{token, expiresAt}``; with it, upload,
    details, update, delete, List images V2 and direct upload V2 work at ``/images/v1…``/``/images/v2…``
    (Cloudflare's ``batch.imagedelivery.net``) "with the same method, request, and response bodies"."""
    got = _get(tenant, "/v1/batch_token").json()["result"]
    expires = datetime.fromisoformat(got["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - now() <= timedelta(hours=1)
    batch = {"Authorization": f"Bearer {got['token']}"}
    uploaded = tenant.http.post(
        "/images/v1", headers=batch, files={"file": ("a.png", _png(), "image/png"), "id": (None, "b/1")}
    )
    assert uploaded.status_code == 200 and uploaded.json()["result"]["id"] == "b/1"
    assert tenant.http.get("/images/v1/b/1", headers=batch).json()["result"]["filename"] == "a.png"
    patched = tenant.http.patch("/images/v1/b/1", headers=batch, json={"metadata": {"k": "v"}})
    assert patched.json()["result"]["meta"] == {"k": "v"}
    assert _listed_ids(tenant.http.get("/images/v2", headers=batch)) == ["b/1"]
    slot = tenant.http.post("/images/v2/direct_upload", headers=batch, files={"creator": (None, "ada")})
    assert slot.status_code == 200 and "/upload/" in slot.json()["result"]["uploadURL"]
    assert tenant.http.delete("/images/v1/b/1", headers=batch).json()["success"] is True
    assert tenant.http.get("/images/v1/b/1", headers=batch).status_code == 404

    assert tenant.http.get("/images/v2", headers=tenant.auth()).status_code == 403  # API tokens are not batch tokens
    assert tenant.http.get(f"{tenant.api}/v2", headers=batch).status_code == 403  # and the other way round
    assert tenant.http.get("/images/v2").status_code == 401
    catalog = tenant.catalog()
    with catalog.engine.begin() as c:
        c.execute(update(batch_tokens).values(expires=now() - timedelta(seconds=1)))
    catalog.close()
    expired = tenant.http.get("/images/v2", headers=batch)
    assert expired.status_code == 403 and "expired" in expired.json()["errors"][0]["message"]


@pytest.mark.parametrize("custom_id", ["summer 2026/größe.jpg", "100%/cotton.jpg"])
def test_variant_urls_of_odd_ids_are_percent_encoded_and_deliver(tenant: Hosted, custom_id: str) -> None:
    """Record URLs must be valid URLs (spaces, non-ASCII, ``%`` as ``%25``: upload-custom-path.mdx)
    that a client can fetch as given."""
    created = tenant.http.post(
        f"{tenant.api}/v1",
        headers=tenant.auth(),
        files={"file": ("a.jpg", _jpeg(), "image/jpeg")},
        data={"id": custom_id},
    )
    assert created.status_code == 200, created.text
    record = created.json()["result"]
    assert record["id"] == custom_id
    (variant,) = record["variants"]
    encoded = variant.split(f"/{tenant.account.hash}/", 1)[1].rsplit("/", 1)[0]
    assert encoded.isascii() and " " not in encoded
    assert httpx.URL(variant).path == f"/{tenant.account.hash}/{custom_id}/public"  # decodes back to the id
    delivered = tenant.http.get(variant)
    assert delivered.status_code == 200, delivered.text
    assert pyvips.Image.new_from_buffer(delivered.content, "").width == 320
    fetched = tenant.http.get(f"{tenant.api}/v1/{encoded}", headers=tenant.auth())
    assert fetched.status_code == 200 and fetched.json()["result"]["id"] == custom_id


def test_a_dotnet_multipart_upload_keeps_the_utf8_file_name(tenant: Hosted) -> None:
    """The shape .NET's ``MultipartFormDataContent`` writes (nopCommerce's plugin): a quoted
    boundary, an unquoted ``name=file``, the name both as an RFC 2047 word and as ``filename*``."""
    boundary = "4a1b7c0e-6a7e-4c47-9a62-2f0d1e2b3c4d"
    head = (
        f"--{boundary}\r\nContent-Type: image/jpeg\r\n"
        'Content-Disposition: form-data; name=file; filename="=?utf-8?B?R3LDtsOfZS5qcGc=?="; '
        "filename*=utf-8''Gr%C3%B6%C3%9Fe.jpg\r\n\r\n"
    )
    body = head.encode() + _jpeg() + f"\r\n--{boundary}--\r\n".encode()
    headers = {**tenant.auth(), "Content-Type": f'multipart/form-data; boundary="{boundary}"'}
    response = tenant.http.post(f"{tenant.api}/v1", content=body, headers=headers)
    assert response.status_code == 200, response.text
    record = response.json()["result"]
    assert record["filename"] == "Größe.jpg"
    stored = tenant.http.get(f"{tenant.api}/v1/{record['id']}", headers=tenant.auth()).json()["result"]
    assert stored["filename"] == "Größe.jpg"
