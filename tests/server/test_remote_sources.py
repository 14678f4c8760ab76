"""Sources fetched over HTTP: a configured origin, allowed hosts, and the SSRF defences."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imaging import decode, gradient, save
from tests.live import Origin, serve
from tests.server.conftest import Start
from tests.tls import make_authority

# the "outside" origin listens on 127.0.0.2 and is the only internal address tests allow
OUTSIDE_NET = "127.0.0.2/32"


@pytest.fixture
def origin() -> Origin:
    remote = Origin()
    remote.files["/img/photo.jpg"] = save(gradient(400, 300), "jpeg")
    remote.files["/img/not-image.jpg"] = b"<html>nope</html>"
    return remote


@pytest.fixture
def origin_url(origin: Origin) -> Iterator[str]:
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


@pytest.fixture
def inside(origin: Origin) -> Iterator[str]:
    """A server on 127.0.0.1 — an internal address no fetch may reach."""
    secret = Origin()
    secret.files["/secret.jpg"] = save(gradient(10, 10), "jpeg")
    with serve(secret.app(), host="127.0.0.1") as base:
        yield base


def test_relative_sources_from_an_http_origin(start: Start, origin: Origin, origin_url: str) -> None:
    client = start(origin=origin_url)
    response = client.get("/cdn-cgi/image/width=100,format=png/img/photo.jpg")
    assert response.status_code == 200
    assert decode(response.content).width == 100
    user_agent = origin.requests[-1][1]["user-agent"]
    assert user_agent.startswith("Enlarger/")
    # within the revalidation window a cache hit needs no origin request at all
    before = origin.hits("/img/photo.jpg")
    assert client.get("/cdn-cgi/image/width=100,format=png/img/photo.jpg").headers["x-enlarger-cache"] == "HIT"
    assert origin.hits("/img/photo.jpg") == before


def test_origin_validators_are_used_to_revalidate(start: Start, origin: Origin, origin_url: str) -> None:
    origin.etags["/img/photo.jpg"] = '"v1"'
    client = start(origin=origin_url, origin_revalidate_seconds=0)
    first = client.get("/cdn-cgi/image/width=50,format=png/img/photo.jpg")
    second = client.get("/cdn-cgi/image/width=50,format=png/img/photo.jpg")
    assert second.headers["x-enlarger-cache"] == "HIT"
    assert second.headers["etag"] == first.headers["etag"]
    assert origin.requests[-1][1].get("if-none-match") == '"v1"'
    origin.etags["/img/photo.jpg"] = '"v2"'
    origin.files["/img/photo.jpg"] = save(gradient(200, 100), "jpeg")
    third = client.get("/cdn-cgi/image/width=50,format=png/img/photo.jpg")
    assert third.headers["etag"] != first.headers["etag"]
    assert decode(third.content).height == 25


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/img/missing.jpg", 404, 9404),
        ("/img/not-image.jpg", 415, 9412),
        ("/img/teapot.jpg", 408, 9408),
        ("/img/down.jpg", 502, 9509),
    ],
)
def test_origin_failures(start: Start, origin: Origin, origin_url: str, path: str, status: int, code: int) -> None:
    origin.status["/img/teapot.jpg"] = 418
    origin.status["/img/down.jpg"] = 503
    client = start(origin=origin_url)
    response = client.get(f"/cdn-cgi/image/width=10{path}")
    assert response.status_code == status
    assert response.headers["cf-resized"] == f"err={code}"
    if status in (404, 408, 502):
        assert f'code="{code}"' in client.get("/metrics").text


def test_origin_timeout_is_524(start: Start, origin: Origin, origin_url: str) -> None:
    """Cloudflare, reference/errors.mdx: 9504 with 524, "download timed out"."""
    origin.delays["/img/photo.jpg"] = 2.0
    client = start(origin=origin_url, fetch_timeout=0.3)
    response = client.get("/cdn-cgi/image/width=10/img/photo.jpg")
    assert response.status_code == 524
    assert response.headers["cf-resized"] == "err=9504"


def test_onerror_redirect_sends_the_client_to_the_source(start: Start, origin_url: str) -> None:
    client = start(origin=origin_url)
    response = client.get("/cdn-cgi/image/width=10,onerror=redirect/img/not-image.jpg")
    assert response.status_code == 302
    assert response.headers["location"] == f"{origin_url}/img/not-image.jpg"
    invalid = client.get("/cdn-cgi/image/width=x,onerror=redirect/img/photo.jpg")
    assert invalid.status_code == 400


def test_onerror_redirect_also_for_an_origin_404(start: Start, origin_url: str) -> None:
    """Cloudflare redirects on any fatal error, the origin's 404 included (docs/server.md)."""
    client = start(origin=origin_url)
    response = client.get("/cdn-cgi/image/width=10,onerror=redirect/img/missing.jpg?v=3")
    assert response.status_code == 302
    assert response.headers["location"] == f"{origin_url}/img/missing.jpg?v=3"
    assert response.headers["cf-resized"] == "err=9404"


def test_onerror_redirect_never_leads_outside_the_allowed_hosts(start: Start, origin_url: str) -> None:
    client = start(origin=origin_url)  # no allowed_hosts: absolute sources are refused, not redirected to
    response = client.get("/cdn-cgi/image/width=10,onerror=redirect/https://elsewhere.example/a.jpg")
    assert response.status_code == 403 and "location" not in response.headers


def test_absolute_sources_need_an_allowed_host(start: Start, origin_url: str) -> None:
    client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
    ok = client.get(f"/cdn-cgi/image/width=60,format=png/{origin_url}/img/photo.jpg")
    assert ok.status_code == 200, ok.text
    assert decode(ok.content).width == 60
    # a proxy-folded "http:/" still works
    folded = origin_url.replace("http://", "http:/")
    assert client.get(f"/cdn-cgi/image/width=60,format=png/{folded}/img/photo.jpg").status_code == 200
    closed = start(fetch_allowed_networks=(OUTSIDE_NET,))
    refused = closed.get(f"/cdn-cgi/image/width=60/{origin_url}/img/photo.jpg")
    assert refused.status_code == 403
    assert refused.headers["cf-resized"] == "err=9401"
    assert "not in allowed origins list" in refused.text


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "2130706433",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "169.254.169.254",
        "10.0.0.1",
    ],
)
def test_internal_addresses_are_refused(start: Start, inside: str, host: str) -> None:
    port = inside.rsplit(":", 1)[1]
    name = host.strip("[]")
    client = start(allowed_hosts=(name, "localhost"))
    response = client.get(f"/cdn-cgi/image/width=10/http://{host}:{port}/secret.jpg")
    assert response.status_code == 403, response.text
    assert response.headers["cf-resized"] == "err=9406"
    assert "internal" in response.text


def test_redirects_into_internal_addresses_are_refused(
    start: Start, origin: Origin, origin_url: str, inside: str
) -> None:
    origin.redirects["/img/sneaky.jpg"] = f"{inside}/secret.jpg"
    origin.redirects["/img/hop.jpg"] = f"{origin_url}/img/photo.jpg"
    client = start(allowed_hosts=("127.0.0.2", "127.0.0.1"), fetch_allowed_networks=(OUTSIDE_NET,))
    assert client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/hop.jpg").status_code == 200
    response = client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/sneaky.jpg")
    assert response.status_code == 403
    assert "internal" in response.text


def test_redirect_loops_are_capped(start: Start, origin: Origin, origin_url: str) -> None:
    origin.redirects["/img/loop.jpg"] = f"{origin_url}/img/loop.jpg"
    client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,), fetch_max_redirects=3)
    response = client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/loop.jpg")
    assert response.status_code == 400
    assert response.headers["cf-resized"] == "err=9421"
    assert origin.hits("/img/loop.jpg") == 4


def test_remote_bodies_are_capped_while_streaming(start: Start, origin: Origin, origin_url: str) -> None:
    origin.files["/img/huge.jpg"] = b"\xff\xd8\xff" + bytes(3_000_000)
    client = start(origin=origin_url, max_input_bytes=1_000_000)
    response = client.get("/cdn-cgi/image/width=10/img/huge.jpg")
    assert response.status_code == 413
    assert response.headers["cf-resized"] == "err=9402"


def test_unresolvable_hosts_are_a_resolver_error(start: Start) -> None:
    """Cloudflare, reference/errors.mdx: 9407 with 523, "invalid URL: resolver error"."""
    client = start(allowed_hosts=("no-such-host.invalid",))
    response = client.get("/cdn-cgi/image/width=10/http://no-such-host.invalid/a.jpg")
    assert response.status_code == 523
    assert response.headers["cf-resized"] == "err=9407"


def test_the_query_string_of_a_relative_source_is_passed_to_the_origin(
    start: Start, origin: Origin, origin_url: str
) -> None:
    client = start(origin=origin_url)
    response = client.get("/cdn-cgi/image/width=40,format=png/img/photo.jpg?v=2&name=%C3%A9t%C3%A9")
    assert response.status_code == 200 and decode(response.content).width == 40
    assert origin.queries[-1] == "v=2&name=%C3%A9t%C3%A9"  # as sent (UTF-8, percent-encoded)
    assert client.get("/cdn-cgi/image/width=40,format=png/img/photo.jpg?v=3").status_code == 200
    assert origin.queries[-1] == "v=3"  # another query is another source URL, asked for again


@pytest.mark.parametrize("source_cache_bytes", [0, 1024**3])
def test_a_miss_inside_the_revalidation_window_needs_the_body(
    start: Start, origin: Origin, origin_url: str, source_cache_bytes: int
) -> None:
    """Without the source cache (0) the body is fetched once more; with it, read from disk."""
    client = start(origin=origin_url, origin_revalidate_seconds=3600, source_cache_bytes=source_cache_bytes)
    assert decode(client.get("/cdn-cgi/image/width=100,format=png/img/photo.jpg").content).width == 100
    before = origin.hits("/img/photo.jpg")
    other = client.get("/cdn-cgi/image/width=60,format=png/img/photo.jpg")  # known source, new output
    assert other.headers["x-enlarger-cache"] == "MISS"
    assert decode(other.content).width == 60
    if source_cache_bytes:
        assert origin.hits("/img/photo.jpg") == before
        return
    assert origin.hits("/img/photo.jpg") == before + 1
    assert "if-none-match" not in origin.requests[-1][1]  # the bytes themselves are needed


def test_a_redirect_from_the_trusted_origin_to_another_host_is_refused(
    start: Start, origin: Origin, origin_url: str
) -> None:
    origin.redirects["/img/away.jpg"] = "http://127.0.0.3:9/photo.jpg"  # not the origin, not allowed
    client = start(origin=origin_url)
    response = client.get("/cdn-cgi/image/width=10/img/away.jpg")
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["cf-resized"].startswith("err=")
    assert origin.hits("/img/away.jpg") == 1


LOOPBACK_NETS = ("127.0.0.1/32", "::1/128")  # what ``localhost`` may resolve to


def test_https_sources_are_verified_against_the_trusted_certificates(
    start: Start, origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https source by name: TLS to the checked address, SNI and the certificate checked for
    the name. The fetcher trusts the system's certificates, so an operator's private CA is
    given the OpenSSL way (``SSL_CERT_FILE``), read when the service starts."""
    authority = make_authority(tmp_path / "tls")
    with serve(origin.app(), host="127.0.0.1", tls=authority.server) as base:
        url = base.replace("127.0.0.1", "localhost") + "/img/photo.jpg"
        untrusted = start(allowed_hosts=("localhost",), fetch_allowed_networks=LOOPBACK_NETS)
        refused = untrusted.get(f"/cdn-cgi/image/width=80,format=png/{url}")
        assert (refused.status_code, refused.headers["cf-resized"]) == (523, "err=9510"), refused.text
        assert "certificate" in refused.text
        assert origin.hits("/img/photo.jpg") == 0  # nothing was asked over the unverified connection
        monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
        trusted = start(allowed_hosts=("localhost",), fetch_allowed_networks=LOOPBACK_NETS)
        ok = trusted.get(f"/cdn-cgi/image/width=80,format=png/{url}")
        assert ok.status_code == 200, ok.text
        image = decode(ok.content)
        assert (image.width, image.height) == (80, 60)
        assert origin.hits("/img/photo.jpg") == 1


def test_a_certificate_from_another_authority_is_refused(
    start: Start, origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusted = make_authority(tmp_path / "trusted", "Trusted CA")
    stranger = make_authority(tmp_path / "stranger", "Stranger CA")
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted.ca_file))
    with serve(origin.app(), host="127.0.0.2", tls=stranger.server) as base:
        client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
        response = client.get(f"/cdn-cgi/image/width=80/{base}/img/photo.jpg")
        assert (response.status_code, response.headers["cf-resized"]) == (523, "err=9510"), response.text
        assert "certificate verify failed" in response.text
        assert origin.hits("/img/photo.jpg") == 0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.2 whose connects never complete: a listener with a backlog of 0 that
    accepts nothing, its queue filled by connections of our own, so Linux drops further SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.2", port))
        fillers.append(filler)
    probe = socket.socket()
    probe.settimeout(0.5)
    with pytest.raises(TimeoutError):  # the technique holds on this kernel
        probe.connect(("127.0.0.2", port))
    probe.close()
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_connect_that_never_completes_is_522(start: Start, silent_port: int) -> None:
    """docs/server.md: ``fetch_connect_timeout`` per connection (522), distinct from the 524 of
    ``fetch_timeout``, which is far longer here and so cannot be what answered."""
    client = start(
        allowed_hosts=("127.0.0.2",),
        fetch_allowed_networks=(OUTSIDE_NET,),
        fetch_connect_timeout=0.3,
        fetch_timeout=25,
    )
    response = client.get(f"/cdn-cgi/image/width=10/http://127.0.0.2:{silent_port}/a.jpg")
    assert (response.status_code, response.headers["cf-resized"]) == (522, "err=9504"), response.text
    assert "did not answer in time" in response.text
