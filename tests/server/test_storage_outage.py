"""A hung or stopped S3 on one replica: deliveries keep answering, failures are honest outages (issue 25)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import fresh_database, make_bucket
from tests.forwarder import Forwarder, forwarding
from tests.imaging import gradient, save
from tests.live import wait_for
from tests.server.conftest import Start, Tenant, open_tenant


@pytest.fixture
def frozen_s3(s3_endpoint: str) -> Any:
    with forwarding(s3_endpoint) as forwarder:
        yield forwarder


def _s3_tenant(start: Start, tmp_path: Path, postgres: str, forwarder: Forwarder, **settings: Any) -> Tenant:
    return open_tenant(
        start,
        tmp_path / "data",
        database_url=fresh_database(postgres),
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
