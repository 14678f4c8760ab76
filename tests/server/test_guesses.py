"""Guessing tokens is limited per client address: failed API token checks and dashboard sign-ins
get 429 with Retry-After past ``auth_failures_allowed`` (issue 24)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request

from enlarger.errors import TooManyFailuresError
from enlarger.server.guesses import Guesses, client_key
from tests.server.conftest import Start, open_tenant


def test_api_token_failures_are_limited(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", auth_failures_allowed=3)
    bad = {"Authorization": "Bearer enl_guess"}
    for _ in range(3):
        assert tenant.http.get(f"{tenant.api}/v1", headers=bad).status_code == 403
    limited = tenant.http.get(f"{tenant.api}/v1", headers=bad)
    assert limited.status_code == 429, limited.text
    assert limited.json()["errors"][0]["code"] == 971 and "retry" in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # while limited, no token is checked at all, even a right one
    assert tenant.http.get(f"{tenant.api}/v1", headers=tenant.auth()).status_code == 429
    batch = tenant.http.get("/images/v2", headers=bad)  # the batch API's tokens: another door, the same count
    assert batch.status_code == 429
    assert tenant.http.get("/healthz").status_code == 200  # only credential checks are refused


def test_dashboard_sign_in_failures_are_limited(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", auth_failures_allowed=2)
    for _ in range(2):
        assert tenant.http.post("/dashboard/session", json={"token": "enl_guess"}).status_code == 403
    limited = tenant.http.post("/dashboard/session", json={"token": tenant.token})
    assert limited.status_code == 429 and "set-cookie" not in limited.headers
    assert int(limited.headers["retry-after"]) >= 1
    tenant.http.cookies.set("enlarger_session", "enl_guess")
    cookie = tenant.http.get("/dashboard/session")
    assert cookie.status_code == 429  # the session cookie is one more door, counted the same


def test_batch_token_failures_count_too(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", auth_failures_allowed=2)
    for _ in range(2):
        assert tenant.http.get("/images/v2", headers={"Authorization": "Bearer enl_guess"}).status_code == 403
    assert tenant.http.get("/images/v2", headers={"Authorization": "Bearer enl_guess"}).status_code == 429


def test_zero_means_no_limit(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", auth_failures_allowed=0)
    for _ in range(30):
        assert tenant.http.get(f"{tenant.api}/v1", headers={"Authorization": "Bearer enl_x"}).status_code == 403
    assert tenant.http.get(f"{tenant.api}/v1", headers=tenant.auth()).status_code == 200


def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 5000), "headers": [], "method": "GET", "path": "/"})


def test_the_window_slides() -> None:
    now = [1000.0]
    limit = Guesses(2, 60, clock=lambda: now[0])
    key = limit.check(_request("192.0.2.7"))
    limit.failed(key)
    now[0] += 30
    limit.failed(key)
    with pytest.raises(TooManyFailuresError) as raised:
        limit.check(_request("192.0.2.7"))
    assert raised.value.retry_after == 30  # until the first failure leaves the window
    limit.check(_request("192.0.2.8"))  # another address is not affected
    now[0] += 30
    assert limit.check(_request("192.0.2.7")) == "192.0.2.7"  # one failure left in the window


def test_ipv6_clients_are_counted_per_64() -> None:
    assert client_key(_request("2001:db8:1:2:aaaa::1")) == client_key(_request("2001:db8:1:2:bbbb::9"))
    assert client_key(_request("2001:db8:1:2::1")) != client_key(_request("2001:db8:1:3::1"))
    assert client_key(_request("::ffff:192.0.2.1")) == "192.0.2.1"
