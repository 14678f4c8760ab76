"""The dashboard's documented security rules, with every expected value taken from docs/dashboard.md
(never from the module's own constants or functions): the CSRF token, the CSP, the cookie's
``Secure`` flag, revocation limited to the session's own account, and previews not counted."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import time
from pathlib import Path
from typing import Any

import httpx

from enlarger.catalog.store import Catalog, Image, now
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


def _upload(tenant: Tenant, image_id: str) -> None:
    tenant.sdk.images.v1.create(
        account_id=tenant.account.id,
        id=image_id,
        file=(f"{image_id}.jpg", io.BytesIO(save(gradient(32, 24), "jpeg")), "image/jpeg"),
    )


def _search(tenant: Tenant, **params: str) -> dict[str, Any]:
    response = tenant.http.get("/dashboard/api/search", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()["result"]
    return page


def test_search_pages_follow_the_continuation_token(tenant: Tenant) -> None:
    # docs/dashboard.md: keyset pages in upload order (newest first unless sort_order=asc); each
    # continuation_token fetches the next page, null after the last
    _sign_in(tenant.http, tenant.token)
    names = [f"page/{n}" for n in range(5)]
    for name in names:
        _upload(tenant, name)
    for order, expected in (({}, names[::-1]), ({"sort_order": "desc"}, names[::-1]), ({"sort_order": "asc"}, names)):
        seen: list[str] = []
        token: str | None = None
        for _ in range(len(names)):
            page = _search(tenant, q="page/", per_page="2", **order, **({"continuation_token": token} if token else {}))
            assert len(page["images"]) <= 2
            seen += [image["id"] for image in page["images"]]
            token = page["continuation_token"]
            if token is None:
                break
        assert token is None  # the last page says so
        assert seen == expected, order  # every image once, in order: no page repeated, none skipped


def _stored(account_id: str, image_id: str) -> Image:
    return Image(
        account_id, image_id, "f.jpg", None, now(), False, {}, False, 10, "image/jpeg", 1, 1, "h",
        f"{account_id}/{image_id}",
    )  # fmt: skip


def test_search_pages_hold_50_by_default_and_read_200_characters_of_q(tenant: Tenant) -> None:
    # docs/dashboard.md: per_page 1-100, 50 when left out; q up to 200 characters (the rest ignored)
    _sign_in(tenant.http, tenant.token)
    catalog = Catalog(tenant.catalog_url)
    long_id = "a" * 200 + "c"
    for image_id in [f"many/{n:02d}" for n in range(50)] + [long_id]:
        catalog.add_image(_stored(tenant.account.id, image_id))
    catalog.close()
    first = _search(tenant)
    assert len(first["images"]) == 50 and first["continuation_token"] is not None
    rest = _search(tenant, continuation_token=first["continuation_token"])
    assert len(rest["images"]) == 1 and rest["continuation_token"] is None
    assert [i["id"] for i in _search(tenant, q="a" * 200 + "b")["images"]] == [long_id]


def test_a_signed_url_lasts_at_most_a_year(tenant: Tenant) -> None:
    # docs/dashboard.md: expires_in in whole seconds, at most 31,536,000 (a year), 0 = never expires
    csrf = _sign_in(tenant.http, tenant.token).json()["result"]["csrf"]
    _upload(tenant, "s")

    def sign(expires_in: object) -> httpx.Response:
        body = {"image_id": "s", "variant": "public", "expires_in": expires_in}
        return tenant.http.post("/dashboard/api/sign", json=body, headers={"X-CSRF-Token": csrf})

    year = 365 * 24 * 3600
    before = time.time()
    longest = sign(year)
    after = time.time()
    assert longest.status_code == 200, longest.text
    expires = longest.json()["result"]["expires"]
    assert int(before) + year <= expires <= int(after) + year
    assert f"exp={expires}" in longest.json()["result"]["url"]
    assert httpx.get(longest.json()["result"]["url"]).status_code == 200
    for refused in (year + 1, -1, 1.5, True):
        answer = sign(refused)
        assert answer.status_code == 400, refused
        assert "31536000" in answer.text
    never = sign(0).json()["result"]
    assert never["expires"] is None and "exp=" not in never["url"]
    before = time.time()
    default = tenant.http.post(
        "/dashboard/api/sign", json={"image_id": "s", "variant": "public"}, headers={"X-CSRF-Token": csrf}
    ).json()["result"]
    assert int(before) + 3600 <= default["expires"] <= int(time.time()) + 3600  # an hour when left out
    missing = {"image_id": "no-such-image", "variant": "public", "expires_in": 60}
    assert tenant.http.post("/dashboard/api/sign", json=missing, headers={"X-CSRF-Token": csrf}).status_code == 404


def test_a_token_created_on_the_dashboard_works_until_revoked(tenant: Tenant) -> None:
    # docs/dashboard.md: tokens created (the secret shown once) and revoked on the Account page
    csrf = _sign_in(tenant.http, tenant.token).json()["result"]["csrf"]
    created = tenant.http.post("/dashboard/api/tokens", json={"name": "deploy"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 200, created.text
    made = created.json()["result"]
    assert made["name"] == "deploy" and made["token"] != tenant.token
    listing = str(tenant.http.base_url).rstrip("/") + f"{tenant.api}/v1"
    assert httpx.get(listing, headers={"Authorization": f"Bearer {made['token']}"}).status_code == 200
    listed = {t["id"]: t for t in tenant.http.get("/dashboard/api/tokens").json()["result"]}
    assert listed[made["id"]]["name"] == "deploy" and listed[made["id"]]["revoked"] is None
    assert "token" not in listed[made["id"]]  # the secret is shown once, at creation
    revoked = tenant.http.delete(f"/dashboard/api/tokens/{made['id']}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    assert httpx.get(listing, headers={"Authorization": f"Bearer {made['token']}"}).status_code == 403  # hosting.md
    listed = {t["id"]: t for t in tenant.http.get("/dashboard/api/tokens").json()["result"]}
    assert listed[made["id"]]["revoked"] is not None
