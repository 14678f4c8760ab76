"""Hostile source URLs, through the real HTTP API: folded to the name that is checked, or refused.

A URL with whitespace, credentials or an undecodable host is malformed (400) and refused before
any name is resolved or connection opened; a host written in Unicode look-alikes (enclosed
letters, full-width digits) is folded (UTS #46, which includes NFKC) to the ASCII name that is
then checked and fetched like any other. Nothing here leaves 127.0.0.0/8.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import pyvips

from enlarger.security.addresses import AddressGuard
from tests.resolver import record_connects, stub_dns
from tests.server.conftest import Start, Tenant

MALFORMED = [
    "http://1.1.1.1 &@2.2.2.2# @3.3.3.3/",  # space and userinfo: which host is meant?
    "http://user:pass@127.0.0.2/a.jpg",  # credentials in a source URL
    "http://exa mple.com/a.jpg",  # a space in the host
    "http://example.com/a b.jpg",  # a space in the path
    "http://example.com\t/a.jpg",  # a control character
    "http://☃.com/a.jpg",  # not a host name under IDNA 2008
    "http://example.com＃@127.0.0.2/a.jpg",  # a full-width '#' that NFKC turns into a real one
    "http://xn--zz.com/a.jpg",  # an invalid A-label
    "http://a..com/a.jpg",  # an empty label
    "http://exa%20mple.com/a.jpg",  # a percent escape in the host (a space, to parsers that decode it)
    "http://425.510.425.510/a.jpg",  # numeric, but no IPv4 address
]


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name the fetcher's address guard is asked to resolve (the step before connecting)."""
    asked: list[str] = []
    original = AddressGuard.resolve

    async def recording(self: AddressGuard, host: str, port: int) -> list[str]:
        asked.append(host)
        return await original(self, host, port)

    monkeypatch.setattr(AddressGuard, "resolve", recording)
    return asked


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_upload_url_is_a_400_before_any_connection(tenant: Tenant, resolved: list[str], url: str) -> None:
    response = tenant.http.post(f"{tenant.api}/v1", headers=tenant.auth(), files={"url": (None, url)})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == 9419
    assert "URL" in body["errors"][0]["message"]
    assert resolved == []


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_source_url_is_a_403_before_any_connection(start: Start, resolved: list[str], url: str) -> None:
    """Cloudflare, reference/errors.mdx: 9406 with 403, "Could not fetch the image - invalid URL"."""
    client = start(allowed_hosts=("*.com", "example.com", "127.0.0.2", "2.2.2.2", "3.3.3.3"))
    response = client.get("/cdn-cgi/image/width=10/" + quote(url, safe=":/"))  # sent as written, '#' too
    assert response.status_code == 403, response.text
    assert response.headers["cf-resized"] == "err=9406"
    assert resolved == []


def test_an_enclosed_letter_host_is_folded_before_the_address_check(tenant: Tenant, resolved: list[str]) -> None:
    # ⓛⓞⓒⓐⓛⓗⓞⓢⓣ folds to "localhost": refused as internal, like the ASCII spelling
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={"url": (None, "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:9/secret.jpg")}
    )
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["code"] == 9406
    assert resolved == ["localhost"]


def test_a_folded_host_is_fetched_by_its_ascii_name(tenant: Tenant, origin_url: str, resolved: list[str]) -> None:
    # ①②⑦.⓪.⓪.② folds to 127.0.0.2, the tests' "outside" origin
    port = origin_url.rsplit(":", 1)[1]
    response = tenant.http.post(
        f"{tenant.api}/v1",
        headers=tenant.auth(),
        files={"url": (None, f"http://①②⑦.⓪.⓪.②:{port}/remote/photo.jpg")},
    )
    assert response.status_code == 200, response.text
    image = response.json()["result"]
    assert image["filename"] == "photo.jpg"
    assert resolved == ["127.0.0.2"]
    blob = tenant.http.get(f"{tenant.api}/v1/{image['id']}/blob", headers=tenant.auth())
    assert pyvips.Image.new_from_buffer(blob.content, "").width == 200


def test_a_folded_source_host_must_be_allowed_by_its_ascii_name(start: Start, origin_url: str) -> None:
    port = origin_url.rsplit(":", 1)[1]
    folded = f"http://①②⑦.⓪.⓪.②:{port}/remote/photo.jpg"
    closed = start(allowed_hosts=("①②⑦.⓪.⓪.②",), fetch_allowed_networks=("127.0.0.2/32",))
    assert closed.get("/cdn-cgi/image/width=10/" + quote(folded, safe=":/")).status_code == 403
    opened = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=("127.0.0.2/32",))
    response = opened.get("/cdn-cgi/image/width=10,format=png/" + quote(folded, safe=":/"))
    assert response.status_code == 200, response.text
    assert pyvips.Image.new_from_buffer(response.content, "").width == 10


#: addresses some interpreters' ``ipaddress`` counts as global (CVE-2024-4032); canaries in tests
SPECIAL_PURPOSE_CANARIES = ["192.0.0.192", "192.88.99.1", "fec0::1"]


@pytest.mark.parametrize("canary", SPECIAL_PURPOSE_CANARIES)
def test_url_doors_refuse_a_name_answering_a_special_purpose_address(
    start: Start, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, canary: str
) -> None:
    """A source, an overlay and an upload by URL: each asks DNS, gets the canary, and refuses it."""
    url = "http://metadata.canary.test/latest/user-data/a.png"
    connects = record_connects(monkeypatch)
    with stub_dns(monkeypatch) as dns:
        dns.answers["metadata.canary.test"] = [canary]
        client = start(allowed_hosts=("metadata.canary.test",))
        for path in (f"/cdn-cgi/image/width=10/{url}", f"/cdn-cgi/image/draw=url({url})/photo.jpg"):
            response = client.get(path)
            assert response.status_code == 403, (path, response.text)
            assert response.headers["cf-resized"] == "err=9406"
        upload = tenant.http.post(f"{tenant.api}/v1", headers=tenant.auth(), files={"url": (None, url)})
        assert upload.status_code == 403, upload.text
        assert upload.json()["errors"][0]["code"] == 9406
        assert dns.asked == ["metadata.canary.test"] * 3
    assert connects == []
