"""The source cache through the server (issue 26): each original crosses the network once.

A real origin on loopback counts the bodies it sent; the figures are what a CDN bill would show.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from enlarger.storage.s3 import S3Storage
from tests.backends import make_bucket
from tests.imaging import decode, gradient, save
from tests.live import Origin, serve
from tests.server.conftest import OUTSIDE_NET, Start, open_tenant

PHOTO = "/img/photo.jpg"
WIDTHS = range(40, 140, 10)  # ten outputs of one source, each a cache miss


@pytest.fixture
def origin() -> Origin:
    remote = Origin()
    remote.files[PHOTO] = save(gradient(400, 300), "jpeg")
    return remote


@pytest.fixture
def origin_url(origin: Origin) -> Iterator[str]:
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


def ten_widths(client: httpx.Client, source: str = PHOTO) -> None:
    for width in WIDTHS:
        response = client.get(f"/cdn-cgi/image/width={width},format=png{source}")
        assert response.status_code == 200, response.text
        assert response.headers["x-enlarger-cache"] == "MISS"
        assert decode(response.content).width == width


def metric(client: httpx.Client, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", client.get("/metrics").text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


def test_ten_widths_of_one_source_are_one_download(start: Start, origin: Origin, origin_url: str) -> None:
    ten_widths(start(origin=origin_url))
    assert origin.bytes_sent(PHOTO) == len(origin.files[PHOTO])  # before: ten times that
    assert origin.hits(PHOTO) == 1


def test_a_revalidation_answered_304_sends_no_body(start: Start, origin: Origin, origin_url: str) -> None:
    origin.etags[PHOTO] = '"v1"'
    client = start(origin=origin_url, origin_revalidate_seconds=0)  # every miss asks the origin
    ten_widths(client)
    assert origin.hits(PHOTO) == 10  # one download, then nine conditional requests answered 304
    assert origin.bytes_sent(PHOTO) == len(origin.files[PHOTO])  # before: 19 requests, ten bodies
    assert [h.get("if-none-match") for _, h in origin.requests[1:]] == ['"v1"'] * 9
    assert metric(client, "enlarger_source_cache_misses_total") == 1
    assert metric(client, "enlarger_source_cache_revalidations_total") == 9
    assert metric(client, "enlarger_source_cache_hits_total") == 9
    assert metric(client, "enlarger_source_cache_bytes") > len(origin.files[PHOTO])  # the body and its head
    assert metric(client, "enlarger_source_cache_evictions_total") == 0


def test_a_changed_source_replaces_the_cached_bytes(start: Start, origin: Origin, origin_url: str) -> None:
    origin.etags[PHOTO] = '"v1"'
    client = start(origin=origin_url, origin_revalidate_seconds=0)
    assert decode(client.get(f"/cdn-cgi/image/width=80,format=png{PHOTO}").content).height == 60
    origin.etags[PHOTO] = '"v2"'
    origin.files[PHOTO] = save(gradient(200, 100), "jpeg")
    for width in (60, 70):  # the new bytes, from the origin once, then from the cache
        assert decode(client.get(f"/cdn-cgi/image/width={width},format=png{PHOTO}").content).height == width // 2
    assert origin.bytes_sent(PHOTO) == len(save(gradient(400, 300), "jpeg")) + len(origin.files[PHOTO])


def test_the_cache_survives_a_restart(start: Start, origin: Origin, origin_url: str) -> None:
    origin.etags[PHOTO] = '"v1"'
    start(origin=origin_url).get(f"/cdn-cgi/image/width=50,format=png{PHOTO}").raise_for_status()
    restarted = start(origin=origin_url)  # a new service on the same data directory: nothing in memory
    response = restarted.get(f"/cdn-cgi/image/width=60,format=png{PHOTO}")
    assert decode(response.content).width == 60
    assert origin.requests[-1][1].get("if-none-match") == '"v1"'  # revalidated with the stored validator
    assert origin.bytes_sent(PHOTO) == len(origin.files[PHOTO])


def test_size_zero_turns_the_cache_off(start: Start, origin: Origin, origin_url: str, tmp_path: Path) -> None:
    client = start(origin=origin_url, source_cache_bytes=0)
    ten_widths(client)
    assert origin.bytes_sent(PHOTO) == 10 * len(origin.files[PHOTO])  # every miss downloads, as before
    assert not (tmp_path / "data" / "sources").exists()
    assert "enlarger_source_cache_hits_total 0.0" in client.get("/metrics").text


def test_the_cache_is_bounded_in_bytes(start: Start, origin: Origin, origin_url: str) -> None:
    origin.files["/img/other.jpg"] = save(gradient(300, 400), "jpeg")
    room = max(len(body) for body in origin.files.values()) + 1000  # one original and its head, not two
    client = start(origin=origin_url, source_cache_bytes=room)
    for turn, source in enumerate((PHOTO, "/img/other.jpg", PHOTO)):
        for width in (30 + turn * 10, 31 + turn * 10):
            client.get(f"/cdn-cgi/image/width={width},format=png{source}").raise_for_status()
    # each original is downloaded once per turn (the second width reads it from disk); returning to
    # the first means downloading it again: the second evicted it
    assert [path for path, _ in origin.bodies] == [PHOTO, "/img/other.jpg", PHOTO]
    assert metric(client, "enlarger_source_cache_evictions_total") == 2
    assert metric(client, "enlarger_source_cache_bytes") <= room


def test_a_cached_source_is_not_served_once_its_fetch_would_be_refused(
    start: Start, origin: Origin, origin_url: str
) -> None:
    origin.etags[PHOTO] = '"v1"'
    url = f"/cdn-cgi/image/width=50,format=png/{origin_url}{PHOTO}"
    assert start(allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,)).get(url).status_code == 200
    internal = start(allowed_hosts=("127.0.0.2",))  # same data directory; 127.0.0.2 is internal again
    refused = internal.get(url.replace("width=50", "width=51"))
    assert refused.status_code == 403
    assert refused.headers["cf-resized"] == "err=9406"
    not_allowed = start(allowed_hosts=("elsewhere.example",), fetch_allowed_networks=(OUTSIDE_NET,))
    assert not_allowed.get(url.replace("width=50", "width=52")).headers["cf-resized"] == "err=9401"


def test_a_cached_source_over_a_lowered_size_limit_is_refused(start: Start, origin: Origin, origin_url: str) -> None:
    origin.etags[PHOTO] = '"v1"'
    start(origin=origin_url).get(f"/cdn-cgi/image/width=50,format=png{PHOTO}").raise_for_status()
    smaller = start(origin=origin_url, max_input_bytes=len(origin.files[PHOTO]) - 1)
    response = smaller.get(f"/cdn-cgi/image/width=60,format=png{PHOTO}")  # the origin answers 304
    assert response.status_code == 413
    assert response.headers["cf-resized"] == "err=9402"


def test_hosted_originals_on_s3_are_read_from_storage_once(
    start: Start, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real_get = S3Storage.get

    def counted(self: S3Storage, key: str) -> bytes:
        reads.append(key)
        return real_get(self, key)

    monkeypatch.setattr(S3Storage, "get", counted)
    tenant = open_tenant(
        start,
        tmp_path / "data",
        storage="s3",
        s3_endpoint=s3_endpoint,
        s3_bucket=make_bucket(s3_endpoint),
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    with tenant.sdk:
        patched = tenant.http.patch(f"{tenant.api}/v1/config", headers=tenant.auth(), json={"flexible_variants": True})
        assert patched.status_code == 200, patched.text
        data = save(gradient(800, 600), "jpeg", Q=90)
        tenant.sdk.images.v1.create(account_id=tenant.account.id, id="photo", file=("p.jpg", io.BytesIO(data)))
        for width in WIDTHS:
            response = tenant.http.get(f"/{tenant.account.hash}/photo/w={width},format=png")
            assert response.status_code == 200, response.text
            assert decode(response.content).width == width
        originals = [key for key in reads if not key.startswith(".")]  # not the storage's ownership marker
        assert len(originals) == 1  # before: one storage GET per miss
        assert metric(tenant.http, "enlarger_source_cache_hits_total") == len(WIDTHS) - 1
        stored = list((tmp_path / "data" / "sources").rglob("*"))
        assert any(path.is_file() for path in stored)
        tenant.sdk.images.v1.delete("photo", account_id=tenant.account.id)  # its original leaves the disk too
        assert not any(path.is_file() for path in (tmp_path / "data" / "sources").rglob("*"))
