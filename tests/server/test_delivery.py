"""Hosted delivery: variants, flexible variants, signed URLs, the custom-domain form, caching."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import pyvips
from cloudflare import omit

from enlarger.catalog.store import Catalog
from enlarger.security.signing import sign_url
from enlarger.settings import Settings
from tests.imaging import gradient, save
from tests.server.conftest import Start, Tenant, open_tenant


def _upload(tenant: Tenant, image_id: str | None = None, *, signed: bool = False) -> str:
    """Upload an 800×600 JPEG; returns its delivery path without the variant (private images
    get a generated ID: custom IDs cannot require signed URLs)."""
    data = save(gradient(800, 600), "jpeg", Q=90)
    image = tenant.sdk.images.v1.create(
        account_id=tenant.account.id,
        file=("p.jpg", io.BytesIO(data), "image/jpeg"),
        require_signed_urls=signed,
        id=image_id or omit,
    )
    return f"/{tenant.account.hash}/{image.id}"


def _key(tenant: Tenant) -> str:
    keys = tenant.sdk.images.v1.keys.list(account_id=tenant.account.id).keys
    assert keys is not None and keys[0].value is not None
    return keys[0].value


def _size(body: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(body, "")
    return image.width, image.height


def test_variant_negotiates_format_and_caches(tenant: Tenant) -> None:
    path = _upload(tenant, "photo")
    avif = tenant.http.get(f"{path}/public", headers={"Accept": "image/avif,image/webp,*/*"})
    assert avif.status_code == 200 and avif.headers["content-type"] == "image/avif"
    assert avif.headers["vary"].split(", ")[0] == "Accept"
    assert avif.headers["cache-control"] == "public, max-age=172800, stale-while-revalidate=7200"
    legacy = tenant.http.get(f"{path}/public", headers={"Accept": "*/*"})
    assert legacy.headers["content-type"] == "image/jpeg"
    again = tenant.http.get(f"{path}/public", headers={"Accept": "*/*"})
    assert again.headers["x-enlarger-cache"] == "HIT" and again.content == legacy.content
    revalidated = tenant.http.get(f"{path}/public", headers={"Accept": "*/*", "If-None-Match": legacy.headers["etag"]})
    assert revalidated.status_code == 304
    head = tenant.http.head(f"{path}/public", headers={"Accept": "*/*"})
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(legacy.content)


def test_custom_domain_form(tenant: Tenant) -> None:
    _upload(tenant, "photo")
    response = tenant.http.get(f"/cdn-cgi/imagedelivery/{tenant.account.hash}/photo/public")
    assert response.status_code == 200 and _size(response.content) == (800, 600)


def test_flexible_variants_need_the_account_switch(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", catalog_cache_seconds=0)  # sees the CLI's change at once
    path = _upload(tenant, "photo")
    refused = tenant.http.get(f"{path}/w=200,h=100,fit=cover")
    assert refused.status_code == 403 and "flexible variants" in refused.text
    assert refused.headers["cf-resized"] == "err=9429"
    catalog = Catalog(Settings(data_dir=tenant.data_dir).catalog_url)
    catalog.set_flexible_variants(tenant.account.id, True)
    catalog.close()
    allowed = tenant.http.get(f"{path}/w=200,h=100,fit=cover,format=png")
    assert allowed.status_code == 200 and allowed.headers["content-type"] == "image/png"
    assert _size(allowed.content) == (200, 100)
    bad = tenant.http.get(f"{path}/w=-5")
    assert bad.status_code == 400 and "width" in bad.text


@pytest.mark.parametrize(
    "missing",
    ["/nohash/photo/public", "{hash}/nothere/public", "{hash}/photo/novariant", "{hash}/photo"],
)
def test_unknown_things_are_404(tenant: Tenant, missing: str) -> None:
    _upload(tenant, "photo")
    path = missing.format(hash="/" + tenant.account.hash)
    response = tenant.http.get(path)
    assert response.status_code == 404, path
    assert response.headers["cache-control"] == "no-store"


def test_signed_urls(tenant: Tenant) -> None:
    path = _upload(tenant, signed=True)
    key = _key(tenant)
    assert tenant.http.get(f"{path}/public").status_code == 403
    signed = sign_url(key, f"{path}/public", expires=int(time.time()) + 600)
    ok = tenant.http.get(signed)
    assert ok.status_code == 200 and _size(ok.content) == (800, 600)
    assert ok.headers["cache-control"].startswith("private, max-age=")
    assert int(ok.headers["cache-control"].rsplit("=", 1)[1]) <= 600
    tenant.sdk.images.v1.variants.create(
        account_id=tenant.account.id,
        id="thumb",
        options={"fit": "scale-down", "width": 100, "height": 100, "metadata": "none"},
    )
    assert tenant.http.get(signed.replace("/public", "/thumb")).status_code == 403  # the signature covers the variant
    unknown = tenant.http.get(signed.replace("/public", "/other"))
    assert unknown.status_code == 404 and "variant" in unknown.text.lower()  # no such variant: signing is moot
    assert tenant.http.get(signed[:-1] + ("0" if signed[-1] != "0" else "1")).status_code == 403
    expired = sign_url(key, f"{path}/public", expires=int(time.time()) - 1)
    response = tenant.http.get(expired)
    assert response.status_code == 403 and "expired" in response.text
    old_path, old_query = expired.split("?", 1)
    exp, sig = old_query.split("&")
    smuggled = f"{old_path}?{exp}sig=x&exp=9999999999&si%67={sig.removeprefix('sig=')}"
    assert tenant.http.get(smuggled).status_code == 403  # an encoded name cannot move the signed part
    custom_domain = sign_url(key, f"{path}/public")
    assert tenant.http.get("/cdn-cgi/imagedelivery" + custom_domain).status_code == 200


def test_variant_that_never_requires_signatures(tenant: Tenant) -> None:
    path = _upload(tenant, signed=True)
    tenant.sdk.images.v1.variants.create(
        account_id=tenant.account.id,
        id="open",
        options={"fit": "scale-down", "width": 100, "height": 100, "metadata": "none"},
        never_require_signed_urls=True,
    )
    response = tenant.http.get(f"{path}/open")
    assert response.status_code == 200 and _size(response.content) == (100, 75)


def test_rotated_key_invalidates_old_signatures(tenant: Tenant) -> None:
    path = _upload(tenant, signed=True)
    old = sign_url(_key(tenant), f"{path}/public")
    assert tenant.http.get(old).status_code == 200
    tenant.sdk.images.v1.keys.update("default", account_id=tenant.account.id)
    assert tenant.http.get(old).status_code == 403
    assert tenant.http.get(sign_url(_key(tenant), f"{path}/public")).status_code == 200


def test_lookups_are_remembered_briefly_and_forgotten_on_api_changes(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", catalog_cache_seconds=60)
    path = _upload(tenant, "photo")
    assert tenant.http.get(f"{path}/public").status_code == 200
    catalog = Catalog(Settings(data_dir=tenant.data_dir).catalog_url)
    catalog.update_image(tenant.account.id, "photo", {"require_signed": True})  # behind the server's back
    catalog.close()
    assert tenant.http.get(f"{path}/public").status_code == 200  # still the remembered lookup
    tenant.sdk.images.v1.edit("photo", account_id=tenant.account.id, metadata={"any": "change"})
    assert tenant.http.get(f"{path}/public").status_code == 403  # an API change forgets at once


def _config(tenant: Tenant, body: dict[str, object]) -> None:
    response = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json=body)
    assert response.status_code == 200, response.text


def test_browser_ttl_of_account_and_variant_sets_cache_control(tenant: Tenant) -> None:
    """browser-ttl.mdx: default two days; the account's ``browser_ttl`` overrides it, a variant's
    overrides both, as ``public, max-age=N, stale-while-revalidate=7200``; private images ignore them."""
    path = _upload(tenant, "photo")
    assert tenant.http.get(f"{path}/public").headers["cache-control"] == (
        "public, max-age=172800, stale-while-revalidate=7200"
    )
    _config(tenant, {"browser_ttl": 31536000})
    assert tenant.http.get(f"{path}/public").headers["cache-control"] == (
        "public, max-age=31536000, stale-while-revalidate=7200"
    )
    variant = {"id": "avatar", "options": {"fit": "cover", "width": 100, "height": 100, "browser_ttl": 86400}}
    assert tenant.http.post(f"{tenant.api}/v1/variants", headers=tenant.auth(), json=variant).status_code == 200
    avatar = tenant.http.get(f"{path}/avatar")
    assert avatar.headers["cache-control"] == "public, max-age=86400, stale-while-revalidate=7200"
    assert _size(avatar.content) == (100, 100)
    private = _upload(tenant, signed=True)
    signed = tenant.http.get(sign_url(_key(tenant), f"{private}/avatar", expires=int(time.time()) + 600))
    assert signed.headers["cache-control"].startswith("private, max-age=")
    assert int(signed.headers["cache-control"].rsplit("=", 1)[1]) <= 600


def test_flexible_variants_switched_by_the_config_api(tenant: Tenant) -> None:
    """enable-flexible-variants.mdx: ``PATCH /images/v1/config {"flexible_variants": true}`` makes
    ``/<hash>/<id>/w=400,sharpen=3`` work at once; switching it off refuses them again."""
    path = _upload(tenant, "photo")
    assert tenant.http.get(f"{path}/w=400,sharpen=3").status_code != 200
    _config(tenant, {"flexible_variants": True})
    allowed = tenant.http.get(f"{path}/w=400,sharpen=3")
    assert allowed.status_code == 200 and _size(allowed.content) == (400, 300)
    _config(tenant, {"flexible_variants": False})
    assert tenant.http.get(f"{path}/w=400,sharpen=3").status_code != 200


def test_signed_paths_with_percent_encoded_characters(start: Start, tmp_path: Path) -> None:
    """docs/hosting.md: the signature is over the path as sent (percent-encoded, as Cloudflare's
    signers make it), and the decoded spelling is accepted too; any other path is 403/9425. The
    options URL is then refused all the same (flexible variants never deliver a private image:
    403/9429 rather than 9425 shows the signature itself was accepted)."""
    tenant = open_tenant(start, tmp_path / "data", catalog_cache_seconds=0)
    catalog = Catalog(Settings(data_dir=tenant.data_dir).catalog_url)
    catalog.set_flexible_variants(tenant.account.id, True)
    catalog.close()
    path = _upload(tenant, signed=True)
    key = _key(tenant)
    decoded = f"{path}/w=200,h=100,fit=pad,background=#ff0000,format=png"  # '#' must be sent as %23
    sent = decoded.replace("#", "%23")
    expires = int(time.time()) + 600
    over_encoded = sign_url(key, sent, expires=expires)
    over_decoded = sign_url(key, decoded, expires=expires).replace("#", "%23", 1)
    assert over_decoded.startswith(sent + "?") and over_encoded.startswith(sent + "?")
    assert over_decoded != over_encoded  # two different signatures for the one URL sent
    for url in (over_encoded, over_decoded):
        response = tenant.http.get(url)
        assert (response.status_code, response.headers["cf-resized"]) == (403, "err=9429"), response.text
    other = sign_url(key, decoded.replace("#ff0000", "#00ff00"), expires=expires)
    mismatched = sent + "?" + other.split("?", 1)[1]  # a signature for another (decoded) path
    refused = tenant.http.get(mismatched)
    assert (refused.status_code, refused.headers["cf-resized"]) == (403, "err=9425"), refused.text
    double = sign_url(key, sent.replace("%23", "%2523"), expires=expires)
    assert tenant.http.get(sent + "?" + double.split("?", 1)[1]).status_code == 403  # encoded twice: another path
