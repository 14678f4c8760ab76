"""The HTTP parts of issue 24's finding 13: dashboard errors carry its security headers, one-time
upload secrets stay out of the logs, and routes are picked by the path as sent."""

from __future__ import annotations

import logging

import httpx
import pytest

from enlarger.server.dashboard import CSP
from tests.imaging import save, solid
from tests.server.conftest import Tenant


def test_dashboard_errors_carry_the_security_headers(tenant: Tenant) -> None:
    for method, path, status in (
        ("GET", "/dashboard/nothing-here", 404),
        ("GET", "/dashboard/static/missing.js", 404),
        ("GET", "/dashboard/api/nothing", 404),
        ("PUT", "/dashboard/session", 405),
    ):
        response = tenant.http.request(method, path)
        assert response.status_code == status, (method, path)
        assert response.headers["content-security-policy"] == CSP, (method, path)
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"


def test_upload_secrets_never_reach_the_logs(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
    assert slot.upload_url
    secret = slot.upload_url.rsplit("/", 1)[1]
    png = save(solid(30, 20, (1, 2, 3)), "png")
    assert httpx.post(slot.upload_url, files={"file": ("x.png", png, "image/png")}).status_code == 200
    assert httpx.post(slot.upload_url, files={"file": ("x.png", png, "image/png")}).status_code != 200  # used
    server = ("enlarger", "uvicorn")  # the server's own lines (httpx logs the URL it was given, client side)
    lines = [record.getMessage() for record in caplog.records if record.name.startswith(server)]
    uploads = [line for line in lines if '"path":"/upload/' in line]
    assert len(uploads) == 2 and all('"path":"/upload/<secret>"' in line for line in uploads), uploads
    assert not any(secret in line for line in lines)


@pytest.mark.parametrize(
    "path",
    [
        "/%63dn-cgi/image/width=10/photo.jpg",
        "/cdn-cgi%2Fimage/width=10/photo.jpg",
        "/cdn-cgi/%69mage/width=10/photo.jpg",
        "/%63dn-cgi/imagedelivery/x/y/public",
        "/client/%764/accounts/x/images/v1",
        "/%64ashboard/",
    ],
)
def test_an_escaped_route_prefix_is_refused(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert (response.status_code, response.headers.get("cf-resized")) == (400, "err=9424"), response.text
    assert "without percent-escapes" in response.text


def test_escapes_after_the_route_part_are_still_decoded(tenant: Tenant) -> None:
    plain = tenant.http.get("/cdn-cgi/image/width=10/photo.jpg")
    escaped = tenant.http.get("/cdn-cgi/image/width=10/%70hoto.jpg")  # the source's own escapes: untouched
    assert plain.status_code == escaped.status_code == 200 and plain.content == escaped.content
    account_hash = tenant.account.hash
    encoded_hash = tenant.http.get(f"/{account_hash[0]}%{ord(account_hash[1]):02X}{account_hash[2:]}/x/public")
    assert encoded_hash.status_code == 400  # an account hash is a route part too
