"""Every error a /cdn-cgi/image request can meet, answered with Cloudflare's status and code together.

One table, one row per documented pair (Cloudflare, ``images/reference/errors.mdx``), each made
to happen for real: the service and a scriptable origin run on loopback, and a raw socket plays
an origin that breaks off mid-body. Codes answered elsewhere are tested where they happen:
9429 (flexible variants off) and 9425 (signatures) in test_delivery.py, 9522 (overloaded),
9529 (a transformation past its time limit) and 9523 (an internal error) in test_transform_url.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from enlarger.security.fetch import VIA
from tests.imaging import gradient, save
from tests.live import Origin, serve
from tests.server.conftest import OUTSIDE_NET, Start


@pytest.fixture
def origin() -> Origin:
    remote = Origin()
    remote.files["/img/photo.jpg"] = save(gradient(400, 300), "jpeg")
    remote.files["/img/page.html"] = b"<!doctype html><html><body>Please log in</body></html>"
    remote.files["/img/huge.jpg"] = b"\xff\xd8\xff" + bytes(3_000_000)
    remote.files["/img/big.png"] = save(gradient(300, 300), "png")
    remote.status["/img/teapot.jpg"] = 418
    remote.status["/img/bad-request.jpg"] = 400
    remote.status["/img/down.jpg"] = 503
    remote.redirects["/img/to-ftp.jpg"] = "ftp://files.example/a.jpg"
    remote.redirects["/img/loop.jpg"] = "/img/loop.jpg"
    remote.delays["/img/slow.jpg"] = 2.0
    remote.files["/img/slow.jpg"] = remote.files["/img/photo.jpg"]
    return remote


@pytest.fixture
def origin_url(origin: Origin) -> Iterator[str]:
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


def _closed_port() -> int:
    """A port on the outside address that nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def cut_off() -> Iterator[str]:
    """An origin that promises 100,000 bytes, sends ten and hangs up: the connection is interrupted."""
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen()

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{listener.getsockname()[1]}"
    listener.close()


@dataclass(frozen=True)
class Case:
    """One documented (status, code) pair and a request that meets it."""

    status: int
    code: int
    path: Callable[[str], str]  # the request path, given the origin's base URL
    doc: str  # Cloudflare's description of the pair (errors.mdx)
    headers: tuple[tuple[str, str], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()


def _remote(name: str, options: str = "width=10") -> Callable[[str], str]:
    return lambda base: f"/cdn-cgi/image/{options}/{base}{name}"


def _local(rest: str) -> Callable[[str], str]:
    return lambda _base: f"/cdn-cgi/image/{rest}"


CASES: dict[str, Case] = {
    "invalid option": Case(400, 9401, _local("width=abc/photo.jpg"), "Missing or invalid resizing parameters"),
    "spaces in the options": Case(400, 9401, _local("width=10,%20fit=cover/photo.jpg"), "no spaces anywhere"),
    "origin not allowed": Case(
        403, 9401, _local("width=10/https://example.com/a.jpg"), "origin is not in allowed origins list"
    ),
    "file too large": Case(
        413,
        9402,
        _remote("/img/huge.jpg"),
        "Could not fetch the image — file too large",
        (),
        (("max_input_bytes", 1_000_000),),
    ),
    "request loop": Case(508, 9403, _remote("/img/photo.jpg"), "already-resized image", (("Via", f"1.1 cdn, {VIA}"),)),
    "origin 404": Case(404, 9404, _remote("/img/missing.jpg"), "the server returned HTTP error 404"),
    "invalid URL": Case(403, 9406, _local("width=10/" + quote("http://exa mple.com/a.jpg", safe=":/")), "invalid URL"),
    "internal address": Case(403, 9406, _local("width=10/http://127.0.0.1:9/a.jpg"), "invalid URL"),
    "resolver error": Case(
        523, 9407, _local("width=10/http://no-such-host.invalid/a.jpg"), "invalid URL: resolver error"
    ),
    "origin 4xx": Case(408, 9408, _remote("/img/teapot.jpg"), "the server returned HTTP error 4xx"),
    "not an image": Case(415, 9412, _remote("/img/page.html"), "The requested file is not an image"),
    "too many pixels": Case(
        403, 9413, _remote("/img/big.png"), "the image is too large", (), (("max_input_pixels", 10_000),)
    ),
    "path not allowed": Case(403, 9419, _local("width=10/a/%2e%2e/%2e%2e/etc/passwd"), "not allowed"),
    "redirect to an invalid URL": Case(400, 9420, _remote("/img/to-ftp.jpg"), "Redirection to an invalid URL"),
    "too many redirects": Case(400, 9421, _remote("/img/loop.jpg"), "Too many redirects"),
    "download timed out": Case(
        524, 9504, _remote("/img/slow.jpg"), "download timed out", (), (("fetch_timeout", 0.3),)
    ),
    "origin 5xx": Case(502, 9509, _remote("/img/down.jpg"), "the server returned HTTP error 502"),
    "origin 400": Case(502, 9519, _remote("/img/bad-request.jpg"), "the server returned HTTP error 400"),
    "damaged image": Case(415, 9520, _local("width=10/broken.jpg"), "Original image has unsupported format"),
}


def _client(start: Start, case: Case) -> httpx.Client:
    allowed = ("127.0.0.2", "127.0.0.1", "no-such-host.invalid")  # the first URL passes: what follows fails
    return start(allowed_hosts=allowed, fetch_allowed_networks=(OUTSIDE_NET,), **dict(case.settings))


@pytest.mark.parametrize("name", list(CASES))
def test_each_error_answers_cloudflares_status_and_code(start: Start, origin_url: str, name: str) -> None:
    """Cloudflare, reference/errors.mdx: the status and the ``Cf-Resized: err=<code>`` pair per failure."""
    case = CASES[name]
    response = _client(start, case).get(case.path(origin_url), headers=dict(case.headers))
    assert (response.status_code, response.headers["cf-resized"]) == (case.status, f"err={case.code}"), response.text
    assert response.text.strip(), "every error says what went wrong"
    assert response.headers["cache-control"] == "no-store"


def test_an_unreachable_origin_is_523_9510(start: Start) -> None:
    """Cloudflare, reference/errors.mdx: 9510 with 523 ("Could not fetch the image"): nothing listens."""
    client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
    response = client.get(f"/cdn-cgi/image/width=10/http://127.0.0.2:{_closed_port()}/a.jpg")
    assert (response.status_code, response.headers["cf-resized"]) == (523, "err=9510"), response.text


def test_an_interrupted_download_is_502_9402(start: Start, cut_off: str) -> None:
    """Cloudflare, reference/errors.mdx: 9402 with 502 ("Could not fetch the image"; connection interrupted)."""
    client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
    response = client.get(f"/cdn-cgi/image/width=10/{cut_off}/a.jpg")
    assert (response.status_code, response.headers["cf-resized"]) == (502, "err=9402"), response.text
    assert "interrupted" in response.text


def test_fetches_carry_the_loop_marker_and_a_resizer_behind_us_refuses_them(
    start: Start, origin: Origin, origin_url: str, tmp_path: Path
) -> None:
    """Cloudflare, transform-via-workers.mdx ("image-resizing" in Via marks a resizer's request) and
    errors.mdx (9403, 508): our fetches say so, and another Enlarger as our origin refuses to loop."""
    client = start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
    assert client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/photo.jpg").status_code == 200
    assert "image-resizing" in origin.requests[-1][1]["via"]
    behind = str(start().base_url)  # a second service, serving the tests' origin directory
    front = start(origin=f"{behind}/cdn-cgi/image/width=20", data_dir=tmp_path / "front")
    looped = front.get("/cdn-cgi/image/width=10/photo.jpg")
    assert (looped.status_code, looped.headers["cf-resized"]) == (502, "err=9509")
    assert "HTTP 508" in looped.text


def test_only_the_first_url_is_checked_against_allowed_hosts(start: Start, origin: Origin, origin_url: str) -> None:
    """Cloudflare, transform-images/sources.mdx: an entry is a domain with an optional path prefix;
    only the first URL is checked, redirects are followed (and still checked for address safety)."""
    origin.redirects["/img/moved.jpg"] = "/elsewhere/photo.jpg"
    origin.files["/elsewhere/photo.jpg"] = origin.files["/img/photo.jpg"]
    client = start(allowed_hosts=("127.0.0.2/img",), fetch_allowed_networks=(OUTSIDE_NET,))
    assert client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/photo.jpg").status_code == 200
    assert client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/moved.jpg").status_code == 200
    outside = client.get(f"/cdn-cgi/image/width=10/{origin_url}/elsewhere/photo.jpg")
    assert (outside.status_code, outside.headers["cf-resized"]) == (403, "err=9401")
    origin.redirects["/img/inside.jpg"] = "http://127.0.0.1:9/secret.jpg"  # redirects still meet the guard
    inside = client.get(f"/cdn-cgi/image/width=10/{origin_url}/img/inside.jpg")
    assert (inside.status_code, inside.headers["cf-resized"]) == (403, "err=9406")
