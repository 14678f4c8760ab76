"""The dashboard's documented security rules, with every expected value taken from docs/dashboard.md
(never from the module's own constants or functions): the CSRF token, the CSP, the cookie's
``Secure`` flag, revocation limited to the session's own account, and previews not counted."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from pathlib import Path
from typing import Any

import httpx

from enlarger.catalog.store import Catalog
from tests.imaging import gradient, save
from tests.server.conftest import Start, Tenant, open_tenant

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def _documented_csp() -> str:
    """The policy as docs/dashboard.md spells it (the code-span after **Content-Security-Policy**)."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"\*\*Content-Security-Policy\*\* on every `/dashboard` response:\s*`([^`]+)`", text)
    assert found is not None, "docs/dashboard.md no longer states the policy"
    return " ".join(found.group(1).split())


def _sign_in(http: httpx.Client, token: str) -> httpx.Response:
    response = http.post("/dashboard/session", json={"token": token})
    assert response.status_code == 200, response.text
    return response


def test_the_csrf_token_is_the_documented_hmac_of_the_session_token(tenant: Tenant) -> None:
    # docs/dashboard.md: HMAC-SHA-256 keyed by the session's token over "enlarger-dashboard-csrf", hex
    expected = hmac.new(tenant.token.encode(), b"enlarger-dashboard-csrf", hashlib.sha256).hexdigest()
    assert _sign_in(tenant.http, tenant.token).json()["result"]["csrf"] == expected
    assert tenant.http.get("/dashboard/session").json()["result"]["csrf"] == expected
    body = {"flexible_variants": True}
    wrong = hmac.new(b"another token", b"enlarger-dashboard-csrf", hashlib.sha256).hexdigest()
    assert tenant.http.patch("/dashboard/api/account", json=body, headers={"X-CSRF-Token": wrong}).status_code == 403
    assert tenant.http.patch("/dashboard/api/account", json=body, headers={"X-CSRF-Token": expected}).status_code == 200


def test_every_dashboard_response_carries_the_documented_policy(tenant: Tenant) -> None:
    policy = _documented_csp()
    assert "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    _sign_in(tenant.http, tenant.token)
    for path in ("/dashboard/", "/dashboard/static/app.js", "/dashboard/session", "/dashboard/api/account"):
        response = tenant.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == policy, path


def test_the_session_cookie_is_secure_when_public_url_is_https(start: Start, tmp_path: Path) -> None:
    served = open_tenant(start, tmp_path / "data", public_url="https://images.example")
    cookie = _sign_in(served.http, served.token).headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert "secure" in attributes and "httponly" in attributes  # over plain http, yet Secure: public_url says https


def test_the_session_cookie_is_not_secure_on_plain_http(tenant: Tenant) -> None:
    cookie = _sign_in(tenant.http, tenant.token).headers["set-cookie"]
    assert "secure" not in {part.strip().split("=")[0].lower() for part in cookie.split(";")}


def test_a_session_cannot_revoke_another_accounts_token(tenant: Tenant) -> None:
    catalog = Catalog(tenant.catalog_url)
    other = catalog.create_account("other")
    other_token, other_secret = catalog.create_token(other.id, "theirs")
    catalog.close()
    csrf = _sign_in(tenant.http, tenant.token).json()["result"]["csrf"]
    refused = tenant.http.delete(f"/dashboard/api/tokens/{other_token.id}", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 404
    theirs = tenant.http.get(
        f"/client/v4/accounts/{other.id}/images/v1", headers={"Authorization": f"Bearer {other_secret}"}
    )
    assert theirs.status_code == 200  # the other account's token still works


def _usage(tenant: Tenant) -> dict[str, Any]:
    response = tenant.http.get(f"{tenant.api}/v1/stats", headers=tenant.auth())
    assert response.status_code == 200
    result: dict[str, Any] = response.json()["result"]
    return result


def test_dashboard_previews_are_not_counted_as_usage(tenant: Tenant) -> None:
    csrf = _sign_in(tenant.http, tenant.token).json()["result"]["csrf"]
    tenant.sdk.images.v1.create(
        account_id=tenant.account.id, id="p", file=("p.jpg", io.BytesIO(save(gradient(64, 48), "jpeg")), "image/jpeg")
    )
    for options in ("width=32,format=png", "width=20,format=png", "width=32,format=png"):
        preview = tenant.http.get("/dashboard/api/preview", params={"id": "p", "options": options})
        assert preview.status_code == 200
    preview = tenant.http.get("/dashboard/api/preview", params={"id": "p", "variant": "public"})
    assert preview.status_code == 200
    before = _usage(tenant)
    assert before["delivered_today"] == {"images": 0, "bytes": 0}
    assert before["transformations"]["unique_30d"] == 0
    signed = tenant.http.post(
        "/dashboard/api/sign",
        json={"image_id": "p", "variant": "public", "expires_in": 60},
        headers={"X-CSRF-Token": csrf},
    ).json()["result"]
    delivered = httpx.get(signed["url"])
    assert delivered.status_code == 200
    after = _usage(tenant)  # the same image delivered for real is counted: the count above could move
    assert after["delivered_today"] == {"images": 1, "bytes": len(delivered.content)}
    assert after["transformations"]["unique_30d"] == 1
