"""Private (requireSignedURLs) images stay private on every delivery form: never drawn as an overlay
into an unsigned URL, never served by flexible options (issue 24, finding 1). Real HTTP, decoded pixels."""

from __future__ import annotations

import io
import time
from pathlib import Path

from enlarger.catalog.store import Catalog
from enlarger.security.signing import sign_url
from enlarger.server.outputs import CACHE_HEADER
from tests.imaging import decode, near, pixel, save, solid
from tests.server.conftest import Start, Tenant, open_tenant

BLUE = save(solid(400, 300, (0, 0, 255)), "png")
RED = save(solid(40, 30, (255, 0, 0)), "png")
RED_PIXEL, BLUE_PIXEL = (255, 0, 0), (0, 0, 255)


def _upload(tenant: Tenant, data: bytes, *, image_id: str | None = None, signed: bool = False) -> str:
    file = ("p.png", io.BytesIO(data), "image/png")
    if image_id is None:  # private images get a generated ID (custom IDs cannot require signed URLs)
        image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=file, require_signed_urls=signed)
    else:
        image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=file, id=image_id)
    assert image.id is not None
    return image.id


def _flexible(tenant: Tenant) -> None:
    response = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json={"flexible_variants": True})
    assert response.status_code == 200, response.text


def _key(tenant: Tenant) -> str:
    keys = tenant.sdk.images.v1.keys.list(account_id=tenant.account.id).keys
    assert keys is not None and keys[0].value is not None
    return keys[0].value


def _drawn(response_content: bytes) -> list[float]:
    """The output's top-left pixel: where the overlay (drawn at top=0,left=0) lands."""
    return pixel(decode(response_content), 2, 2)


def test_a_private_image_is_not_drawn_into_an_unsigned_url(tenant: Tenant) -> None:
    _flexible(tenant)
    _upload(tenant, BLUE, image_id="photo")
    private = _upload(tenant, RED, signed=True)
    public = _upload(tenant, RED)  # the same pixels, public: the control that the URL draws at all
    base = f"/{tenant.account.hash}/photo"
    options = "width=120,height=90,fit=cover,format=png,draw.opacity=1,draw.width=120,draw.top=0,draw.left=0"
    for form in (f"{base}/{options},draw=url({{id}})", f"{base}/{options},draw={{id}}"):
        for prefix in ("", "/cdn-cgi/imagedelivery"):
            control = tenant.http.get(prefix + form.format(id=public))
            assert control.status_code == 200, control.text
            assert near(_drawn(control.content), RED_PIXEL, 16)
            refused = tenant.http.get(prefix + form.format(id=private))
            assert (refused.status_code, refused.headers["cf-resized"]) == (403, "err=9425"), refused.text
            assert "signed" in refused.text and refused.headers["cache-control"] == "no-store"


def test_a_named_variant_draws_a_private_image_only_into_a_signed_url(tenant: Tenant) -> None:
    _upload(tenant, BLUE, image_id="photo")
    private_base = _upload(tenant, BLUE, signed=True)
    private_mark = _upload(tenant, RED, signed=True)
    body = {"id": "marked", "options": {"fit": "scale-down", "width": 200, "draw": private_mark,
            "draw.top": 0, "draw.left": 0}}  # fmt: skip
    created = tenant.http.post(f"{tenant.api}/v1/variants", json=body, headers=tenant.auth())
    assert created.status_code == 200, created.text
    png = {"Accept": "image/png"}
    unsigned = tenant.http.get(f"/{tenant.account.hash}/photo/marked", headers=png)  # a public base
    assert (unsigned.status_code, unsigned.headers["cf-resized"]) == (403, "err=9425"), unsigned.text
    signed_url = sign_url(_key(tenant), f"/{tenant.account.hash}/{private_base}/marked", expires=int(time.time()) + 600)
    signed = tenant.http.get(signed_url, headers=png)  # the owner signed this URL: its variant's overlay is theirs
    assert signed.status_code == 200, signed.text
    image = decode(signed.content)
    assert near(pixel(image, 2, 2), RED_PIXEL, 16) and near(pixel(image, 150, 100), BLUE_PIXEL, 16)


def test_flexible_options_never_deliver_a_private_image(tenant: Tenant) -> None:
    """enable-flexible-variants.mdx: flexible variants cannot be used for images that require a
    signature — refused even when the URL is correctly signed (403/9429); unsigned it is 403/9425."""
    _flexible(tenant)
    private = _upload(tenant, RED, signed=True)
    path = f"/{tenant.account.hash}/{private}/width=20,format=png"
    unsigned = tenant.http.get(path)
    assert (unsigned.status_code, unsigned.headers["cf-resized"]) == (403, "err=9425")
    signed = tenant.http.get(sign_url(_key(tenant), path, expires=int(time.time()) + 600))
    assert (signed.status_code, signed.headers["cf-resized"]) == (403, "err=9429"), signed.text
    assert "named variant" in signed.text
    named_url = sign_url(_key(tenant), f"/{tenant.account.hash}/{private}/public")
    named = tenant.http.get(named_url, headers={"Accept": "image/png"})
    assert named.status_code == 200 and near(pixel(decode(named.content), 2, 2), RED_PIXEL, 16)


def test_accounts_do_not_share_outputs_of_the_same_bytes(start: Start, tmp_path: Path) -> None:
    """Issue 24, finding 11: B's first delivery of bytes A delivered earlier is a miss with its own
    ETag — a hit (or A's ETag) would tell B that another tenant holds those exact bytes."""
    a = open_tenant(start, tmp_path / "data")
    catalog = Catalog(a.catalog_url)
    other = catalog.create_account("b")
    _, token = catalog.create_token(other.id)
    catalog.close()
    same = save(solid(300, 200, (10, 200, 30)), "png")
    for account_id, auth in ((a.account.id, a.auth()), (other.id, {"Authorization": f"Bearer {token}"})):
        uploaded = a.http.post(
            f"/client/v4/accounts/{account_id}/images/v1",
            files={"file": ("same.png", same, "image/png")},
            data={"id": "same"},
            headers=auth,
        )
        assert uploaded.status_code == 200, uploaded.text
    png = {"Accept": "image/png"}
    first = a.http.get(f"/{a.account.hash}/same/public", headers=png)
    assert first.status_code == 200 and first.headers[CACHE_HEADER] == "MISS"
    assert a.http.get(f"/{a.account.hash}/same/public", headers=png).headers[CACHE_HEADER] == "HIT"
    theirs = a.http.get(f"/{other.hash}/same/public", headers=png)
    assert theirs.status_code == 200 and theirs.headers[CACHE_HEADER] == "MISS"
    assert theirs.headers["etag"] != first.headers["etag"]
    assert decode(theirs.content).width == decode(first.content).width == 300  # the same output, made twice
    revalidated = a.http.get(f"/{other.hash}/same/public", headers={**png, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 200  # A's ETag does not validate B's output
