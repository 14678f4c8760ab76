"""The dashboard's server side over HTTP: sessions, CSRF, the API forwarding, headers, the widget script."""

from __future__ import annotations

import io
import time

import httpx

from enlarger.server.dashboard import COOKIE, CSP, csrf_token
from tests.imaging import decode, gradient, near, pixel, save, solid
from tests.server.conftest import Tenant


def _signed_in(tenant: Tenant) -> str:
    response = tenant.http.post("/dashboard/session", json={"token": tenant.token})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie and "Secure" not in cookie  # plain http in the tests
    result = response.json()["result"]
    assert result["account"]["id"] == tenant.account.id
    assert result["csrf"] == csrf_token(tenant.token)
    return str(result["csrf"])


def test_pages_carry_a_strict_csp(tenant: Tenant) -> None:
    for path in ("/dashboard/", "/dashboard/static/app.js", "/dashboard/static/style.css", "/dashboard/session"):
        response = tenant.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "default-src 'self'" in CSP
    assert tenant.http.get("/dashboard").status_code == 308
    assert tenant.http.get("/dashboard/static/%2e%2e/%2e%2e/settings.py").status_code == 404


def test_sign_in_refuses_bad_tokens_and_reports_nobody(tenant: Tenant) -> None:
    assert tenant.http.get("/dashboard/session").json()["result"] == {"account": None, "csrf": None}
    refused = tenant.http.post("/dashboard/session", json={"token": "enl_wrong"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert refused.json()["errors"][0]["message"] == "this token is not valid (unknown or revoked)"
    assert tenant.http.get("/dashboard/api/account").status_code == 401


def test_changes_need_the_csrf_header_and_same_origin(tenant: Tenant) -> None:
    csrf = _signed_in(tenant)
    body = {"flexible_variants": True}
    missing = tenant.http.patch("/dashboard/api/account", json=body)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["errors"][0]["message"]
    foreign = tenant.http.patch(
        "/dashboard/api/account", json=body, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    done = tenant.http.patch("/dashboard/api/account", json=body, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["result"]["flexible_variants"] is True


def test_images_api_is_forwarded_with_the_session(tenant: Tenant) -> None:
    csrf = _signed_in(tenant)
    data = save(gradient(64, 48), "jpeg")
    uploaded = tenant.http.post(
        "/dashboard/api/images/v1",
        files={"file": ("a.jpg", io.BytesIO(data), "image/jpeg")},
        data={"id": "shop/a.jpg"},
        headers={"X-CSRF-Token": csrf},
    )
    assert uploaded.status_code == 200, uploaded.text
    got = tenant.http.get("/dashboard/api/images/v1/shop/a.jpg").json()["result"]
    assert got["id"] == "shop/a.jpg" and got["filename"] == "a.jpg"
    blob = tenant.http.get("/dashboard/api/images/v1/shop/a.jpg/blob")
    assert blob.content == data
    found = tenant.http.get("/dashboard/api/search", params={"q": "SHOP/"}).json()["result"]
    assert [i["id"] for i in found["images"]] == ["shop/a.jpg"]
    preview = tenant.http.get("/dashboard/api/preview", params={"id": "shop/a.jpg", "options": "width=32,format=png"})
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    signed = tenant.http.post(
        "/dashboard/api/sign",
        json={"image_id": "shop/a.jpg", "variant": "public", "expires_in": 60},
        headers={"X-CSRF-Token": csrf},
    ).json()["result"]
    assert httpx.get(signed["url"]).status_code == 200
    # revoking the session's own token ends the session at once
    tokens = tenant.http.get("/dashboard/api/tokens").json()["result"]
    revoked = tenant.http.delete(f"/dashboard/api/tokens/{tokens[0]['id']}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    assert tenant.http.get("/dashboard/api/images/v1/shop/a.jpg").status_code == 401


def test_widget_script_and_upload_preflight(tenant: Tenant) -> None:
    script = tenant.http.get("/widget/v1/upload.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.headers["access-control-allow-origin"] == "*"
    assert "customElements.define" in script.text
    preflight = tenant.http.options(
        "/upload/anything",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"


def test_metrics_label_dashboard_and_widget_requests_as_such(tenant: Tenant) -> None:
    assert tenant.http.get("/dashboard/session").status_code == 200
    assert tenant.http.get("/widget/v1/upload.js").status_code == 200
    metrics = ""
    for _ in range(100):  # a streamed file is counted once its last chunk is sent, just after the client has it
        metrics = tenant.http.get("/metrics").text
        if 'route="widget"' in metrics:
            break
        time.sleep(0.01)
    assert 'enlarger_requests_total{route="dashboard",status="200"}' in metrics
    assert 'enlarger_requests_total{route="widget",status="200"}' in metrics
    assert 'route="other"' not in metrics  # neither fell through to the catch-all label


def test_previews_draw_another_image_of_the_account(tenant: Tenant) -> None:
    _signed_in(tenant)
    account = tenant.account.id
    red, blue = save(solid(20, 10, (255, 0, 0)), "png"), save(solid(400, 200, (0, 0, 255)), "png")
    for image_id, data in (("photo", blue), ("marks/logo", red)):
        tenant.sdk.images.v1.create(account_id=account, id=image_id, file=("f.png", io.BytesIO(data), "image/png"))
    options = "width=200,format=png,draw=marks/logo,draw.top=0,draw.left=0"
    preview = tenant.http.get("/dashboard/api/preview", params={"id": "photo", "options": options})
    assert preview.status_code == 200, preview.text
    image = decode(preview.content)
    assert (image.width, image.height) == (200, 100)
    assert near(pixel(image, 5, 5), (255, 0, 0), 16) and near(pixel(image, 30, 5), (0, 0, 255), 16)
    missing = tenant.http.get("/dashboard/api/preview", params={"id": "photo", "options": "draw=nope"})
    assert missing.status_code == 404 and "nope" in missing.text


def test_the_account_shows_the_browser_ttl_delivery_sends(tenant: Tenant) -> None:
    """Review 2, finding 4: the account page showed the server's default after the account changed it."""
    _signed_in(tenant)
    assert tenant.http.get("/dashboard/api/account").json()["result"]["browser_ttl"] == 172800  # the default
    changed = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json={"browser_ttl": 7200})
    assert changed.status_code == 200 and changed.json()["result"]["browser_ttl"] == 7200
    tenant.sdk.images.v1.create(account_id=tenant.account.id, id="p", file=("p.png", io.BytesIO(_PNG), "image/png"))
    delivered = tenant.http.get(f"/{tenant.account.hash}/p/public")
    assert delivered.headers["cache-control"] == "public, max-age=7200, stale-while-revalidate=7200"
    assert tenant.http.get("/dashboard/api/account").json()["result"]["browser_ttl"] == 7200
    assert tenant.http.get(f"{tenant.api}/v1/config", headers=tenant.auth()).json()["result"]["browser_ttl"] == 7200


_PNG = save(solid(20, 10, (0, 128, 0)), "png")
