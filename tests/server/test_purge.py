"""Purges that reach everyone (issue 25 item 8): CDN tags on deliveries, the catalog's purge log
read by every replica, and the operator's purge webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.imaging import quadrants, save
from tests.live import serve, wait_for
from tests.server.conftest import OUTSIDE_NET, Start, Tenant, open_tenant

ODD_ID = "a b/c%d é"  # everything a header value must not hold raw


def _upload(tenant: Tenant, image_id: str, width: int = 40) -> None:
    png = save(quadrants(width, 20), "png")
    files: dict[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]] = {
        "file": ("a.png", png, "image/png"),
        "id": (None, image_id),
    }
    assert tenant.http.post(tenant.api + "/v1", headers=tenant.auth(), files=files).status_code == 200


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def test_deliveries_and_their_304s_name_the_image_and_the_account(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data")
    _upload(tenant, ODD_ID)
    account = tenant.account.id
    url = f"/{tenant.account.hash}/{ODD_ID.replace('%', '%25')}/public"
    answer = tenant.http.get(url)
    assert answer.status_code == 200, answer.text
    image, variant = f"img-{account}-{_digest(ODD_ID)}", f"var-{account}-{_digest('public')}"
    assert set(answer.headers["Cache-Tag"].split(",")) == {image, variant, f"acct-{account}"}
    assert set(answer.headers["Surrogate-Key"].split(" ")) == {image, variant, f"acct-{account}"}
    again = tenant.http.get(url, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Tag"] == answer.headers["Cache-Tag"]
    assert again.headers["Surrogate-Key"] == answer.headers["Surrogate-Key"]


def _outputs(data_dir: Path) -> list[Path]:
    """The outputs on this replica's disk cache."""
    return [path for path in (data_dir / "cache").glob("??/*") if path.is_file()]


def test_a_delete_through_one_replica_purges_the_others_disk(
    start: Start, tmp_path: Path, catalog_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two replicas on one catalog, each with its own disk: a delete through A empties B's cache of
    the image within B's purge poll (the delay is printed, not asserted: speed goes in bench/)."""
    a = open_tenant(start, tmp_path / "a", database_url=catalog_url)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "originals").symlink_to(tmp_path / "a" / "originals")  # one storage (as S3 would be)
    b = start(data_dir=tmp_path / "b", database_url=catalog_url, fetch_allowed_networks=(OUTSIDE_NET,))
    _upload(a, ODD_ID)
    _upload(a, "kept", width=60)
    url = f"/{a.account.hash}/{ODD_ID.replace('%', '%25')}/public"
    first = b.get(url)
    assert first.headers.get("X-Enlarger-Cache") == "MISS", (first.status_code, first.text)
    assert b.get(url).headers["X-Enlarger-Cache"] == "HIT"
    assert b.get(f"/{a.account.hash}/kept/public").headers["X-Enlarger-Cache"] == "MISS"
    assert len(_outputs(tmp_path / "b")) == 2
    assert a.http.delete(f"{a.api}/v1/{ODD_ID.replace('%', '%25').replace('/', '%2F')}", headers=a.auth()).is_success
    deleted = time.monotonic()
    wait_for(lambda: len(_outputs(tmp_path / "b")) == 1)
    with capsys.disabled():
        print(f"\npurge reached replica B {time.monotonic() - deleted:.3f} s after the DELETE answered")
    assert b.get(f"/{a.account.hash}/kept/public").headers["X-Enlarger-Cache"] == "HIT"  # only the image went


class _Receiver:
    """A purge webhook receiver on loopback: records each POST, failing the first ``failures`` with 503."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, str, float]] = []  # body, signature header, when
        self.answered: list[int] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.received.append((body, request.headers.get("x-enlarger-signature", ""), time.monotonic()))
            status = 503 if len(self.received) <= self.failures else 204
            self.answered.append(status)
            return Response(status_code=status)

        return Starlette(routes=[Route("/purge", hook, methods=["POST"])])


SECRET = "webhook secret"


@pytest.mark.parametrize("failures", [0, 2])
def test_every_purge_is_posted_signed_to_the_webhook(
    start: Start, tmp_path: Path, failures: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The body names what changed (as Cache-Tag does), why, and when, signed with the secret; a
    receiver failing twice gets the same purge again until it takes it."""
    receiver = _Receiver(failures)
    with serve(receiver.app()) as base:
        tenant = open_tenant(start, tmp_path / "data", purge_webhook_url=f"{base}/purge", purge_webhook_secret=SECRET)
        _upload(tenant, ODD_ID)
        assert receiver.received == []  # an upload purges nothing
        path = f"{tenant.api}/v1/{ODD_ID.replace('%', '%25').replace('/', '%2F')}"
        assert tenant.http.delete(path, headers=tenant.auth()).is_success  # answered before any retry
        deleted = time.monotonic()
        wait_for(lambda: receiver.answered[-1:] == [204], timeout=20)
        with capsys.disabled():
            print(f"\nwebhook took the purge {receiver.received[-1][2] - deleted:.3f} s after the DELETE answered")
    assert receiver.answered == [503] * failures + [204]
    bodies = {body for body, _, _ in receiver.received}
    assert len(bodies) == 1  # the same purge each time
    body, signed, _ = receiver.received[-1]
    assert signed == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert sent["tags"] == [f"img-{tenant.account.id}-{_digest(ODD_ID)}"]
    assert sent["account"] == tenant.account.id
    assert sent["reason"] == "image-deleted"
    assert datetime.fromisoformat(sent["time"]).tzinfo is not None
