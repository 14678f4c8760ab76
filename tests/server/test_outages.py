"""A hung or stopped S3 on one replica: deliveries keep answering, failures are honest outages (issue 25)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.catalog.store import Catalog, Image
from tests.backends import fresh_database, make_bucket
from tests.forwarder import Forwarder, forwarding
from tests.imaging import gradient, save
from tests.live import wait_for
from tests.server.conftest import Start, Tenant, open_tenant


@pytest.fixture
def frozen_s3(s3_endpoint: str) -> Iterator[Forwarder]:
    with forwarding(s3_endpoint) as forwarder:
        yield forwarder


def _s3_tenant(
    start: Start, tmp_path: Path, postgres: str, forwarder: Forwarder, *, database: str = "", **settings: Any
) -> Tenant:
    return open_tenant(
        start,
        tmp_path / "data",
        database_url=database or fresh_database(postgres),
        storage="s3",
        s3_endpoint=forwarder.url,
        s3_bucket=make_bucket(forwarder.url),
        s3_access_key_id="test",
        s3_secret_access_key="test",
        **settings,
    )


def _send_upload(tenant: Tenant, image_id: str, data: bytes) -> socket.socket:
    """Send a whole upload request on a raw connection (so it is in the server before the test goes on)."""
    request = tenant.http.build_request(
        "POST",
        f"{tenant.api}/v1",
        headers={**tenant.auth(), "Connection": "close"},
        data={"id": image_id},
        files={"file": data},
    )
    body = request.read()
    head = [f"POST {request.url.raw_path.decode()} HTTP/1.1"] + [f"{k}: {v}" for k, v in request.headers.items()]
    connection = socket.create_connection((request.url.host, request.url.port or 80))
    connection.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)
    return connection


def _storage_calls(tenant: Tenant) -> float:
    """The service's own count of storage calls running or waiting (``/metrics``)."""
    for line in tenant.http.get("/metrics").text.splitlines():
        if line.startswith("enlarger_storage_calls "):
            return float(line.split()[1])
    raise AssertionError("no enlarger_storage_calls metric")


def _status(connection: socket.socket) -> int:
    """The status code of the answer on ``connection`` (read to its end)."""
    connection.settimeout(300)
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    connection.close()
    return int(answer.split(b" ", 2)[1])


def test_cache_hits_answer_while_s3_is_frozen(
    start: Start, tmp_path: Path, postgres: str, frozen_s3: Forwarder
) -> None:
    """Issue 25.3: S3 frozen under 45 uploads made that node's cache hits wait up to 9 s, because
    catalog and storage calls shared one thread pool. Storage now has its own bounded pool: the hit
    (which asks the catalog on every request here) completes while every upload is still stuck."""
    tenant = _s3_tenant(
        start, tmp_path, postgres, frozen_s3, catalog_cache_seconds=0, storage_concurrency=4, s3_read_timeout=120
    )
    data = save(gradient(32, 24), "jpeg", Q=90)  # validated in a moment: uploads reach S3 together
    assert tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), data={"id": "hot"}, files={"file": data}
    ).is_success
    hit_url = f"/{tenant.account.hash}/hot/public"
    first = tenant.http.get(hit_url)
    assert first.status_code == 200

    frozen_s3.freeze()
    uploads = [_send_upload(tenant, f"stuck-{n}", data) for n in range(45)]  # whole requests, sent
    try:
        # every upload is now with storage (4 stuck on S3, the others waiting for a storage thread)
        wait_for(lambda: _storage_calls(tenant) == 45 and frozen_s3.held >= 4, timeout=120)
        with httpx.Client(base_url=tenant.http.base_url, timeout=30) as client:
            hit = client.get(hit_url)  # old code: waits behind the uploads until S3 answers again
        assert frozen_s3.held >= 4  # S3 was still frozen when the hit answered
        assert hit.status_code == 200 and hit.content == first.content
    finally:
        frozen_s3.thaw()
    outcomes = [_status(connection) for connection in uploads]
    assert outcomes == [200] * 45  # nothing lost: every stuck upload finished once S3 came back


def _outage(answer: httpx.Response) -> bool:
    return answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0


def test_outages_answer_503_with_retry_after(
    start: Start, tmp_path: Path, postgres: str, frozen_s3: Forwarder, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 25.4: a PostgreSQL restart and an S3 outage were answered 500 "internal error" and logged
    as bugs. Now: 503 + Retry-After (clients and SDKs may retry), logged as an outage; /readyz says so."""
    database = fresh_database(postgres)
    host, rest = database.split("@", 1)[1].split(":", 1)
    with forwarding(f"http://{host}:{rest.split('/', 1)[0]}") as catalog_link:
        through = f"{database.split('@', 1)[0]}@127.0.0.1:{catalog_link.port}/{rest.split('/', 1)[1]}"
        tenant = _s3_tenant(start, tmp_path, postgres, frozen_s3, database=through, catalog_cache_seconds=0)
        data = save(gradient(64, 48), "jpeg", Q=90)
        upload: dict[str, Any] = {"data": {"id": "kept"}, "files": {"file": data}, "headers": tenant.auth()}
        assert tenant.http.post(f"{tenant.api}/v1", **upload).is_success
        details, delivery = f"{tenant.api}/v1/kept", f"/{tenant.account.hash}/kept/public"

        catalog_link.stop()  # PostgreSQL goes away
        for answer in (tenant.http.get(details, headers=tenant.auth()), tenant.http.get(delivery)):
            assert _outage(answer), (answer.status_code, answer.text)
        api = tenant.http.get(details, headers=tenant.auth()).json()
        assert api["success"] is False and "unavailable" in api["errors"][0]["message"]
        assert tenant.http.get("/readyz").status_code == 503
        catalog_link.resume()
        assert tenant.http.get(details, headers=tenant.auth()).status_code == 200
        assert tenant.http.get("/readyz").status_code == 200

        frozen_s3.stop()  # S3 goes away
        refused = tenant.http.post(f"{tenant.api}/v1", **{**upload, "data": {"id": "later"}})
        assert _outage(refused), (refused.status_code, refused.text)
        assert tenant.http.get("/readyz").status_code == 503
        frozen_s3.resume()
        assert tenant.http.get("/readyz").status_code == 200
        assert tenant.http.post(f"{tenant.api}/v1", **{**upload, "data": {"id": "later"}}).is_success
    logged = [r.getMessage() for r in caplog.records if "outage" in r.getMessage()]
    assert logged and not [r for r in caplog.records if "internal error" in r.getMessage()]


def _catalog_through(database: str, link: Forwarder) -> str:
    """``database``'s URL, reached through ``link``."""
    user, rest = database.split("@", 1)
    return f"{user}@127.0.0.1:{link.port}/{rest.split('/', 1)[1]}"


def _link_to(database: str) -> Any:
    host_port = database.split("@", 1)[1].split("/", 1)[0]
    return forwarding(f"http://{host_port}")


def test_a_committed_upload_is_answered_from_its_committed_record(
    start: Start, tmp_path: Path, postgres: str, frozen_s3: Forwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25.5: the catalog went away right after an upload's commit and the upload was answered
    500 (the SDK's retry then got 409). The answer is now built from what was committed."""
    database = fresh_database(postgres)
    with _link_to(database) as catalog_link:
        tenant = _s3_tenant(start, tmp_path, postgres, frozen_s3, database=_catalog_through(database, catalog_link))
        committed = Catalog.add_image

        def commit_then_lose_the_database(self: Catalog, image: Image, quota: int | None = None) -> Image:
            row = committed(self, image, quota)
            catalog_link.stop()  # PostgreSQL goes away the moment the row is committed
            return row

        monkeypatch.setattr(Catalog, "add_image", commit_then_lose_the_database)
        data = save(gradient(64, 48), "jpeg", Q=90)
        answer = tenant.http.post(f"{tenant.api}/v1", headers=tenant.auth(), data={"id": "made"}, files={"file": data})
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        assert result["id"] == "made" and result["variants"] == [
            f"{str(tenant.http.base_url).rstrip('/')}/{tenant.account.hash}/made/public"
        ]
        monkeypatch.setattr(Catalog, "add_image", committed)
        catalog_link.resume()
        assert tenant.http.get(f"{tenant.api}/v1/made/blob", headers=tenant.auth()).content == data


def test_a_delete_with_storage_down_succeeds_once_the_row_is_gone(
    start: Start, tmp_path: Path, postgres: str, frozen_s3: Forwarder, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 25.5: a DELETE with S3 down answered 500 although the image was gone. The row goes first,
    so the deletion is done: it answers success, and the blob is left (and logged) for the orphan sweep."""
    tenant = _s3_tenant(start, tmp_path, postgres, frozen_s3)
    data = save(gradient(64, 48), "jpeg", Q=90)
    assert tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), data={"id": "bye"}, files={"file": data}
    ).is_success
    frozen_s3.stop()
    answer = tenant.http.delete(f"{tenant.api}/v1/bye", headers=tenant.auth())
    assert answer.status_code == 200 and answer.json()["success"] is True, answer.text
    assert tenant.http.get(f"{tenant.api}/v1/bye", headers=tenant.auth()).status_code == 404
    assert tenant.http.get(f"/{tenant.account.hash}/bye/public").status_code == 404
    assert any("left for the orphan sweep" in r.getMessage() for r in caplog.records)
