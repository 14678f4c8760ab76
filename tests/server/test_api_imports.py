"""The imports API over real HTTP: start jobs that the server runs in the background, watch them,
cancel one, download logs; bad requests get clear 4xx answers."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudflare import Cloudflare

from enlarger.catalog.store import Catalog
from enlarger.settings import Settings
from tests.importing.conftest import fill_bucket, small_images
from tests.live import Origin, serve
from tests.server.conftest import OUTSIDE_NET, Start, Tenant


@pytest.fixture
def importer(start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    data_dir = tmp_path / "data"
    catalog_url = Settings(data_dir=data_dir).catalog_url
    catalog = Catalog(catalog_url)
    account = catalog.create_account("imports")
    _, token = catalog.create_token(account.id)
    catalog.close()
    networks = (OUTSIDE_NET, "127.0.0.1/32")  # the origin on 127.0.0.2 and moto's S3 on 127.0.0.1
    http = start(data_dir=data_dir, fetch_allowed_networks=networks, import_poll_seconds=0.2, import_lease_seconds=2)
    sdk = Cloudflare(api_token=token, base_url=str(http.base_url).rstrip("/") + "/client/v4", max_retries=0)
    with sdk:
        yield Tenant(http, sdk, account, token, data_dir, catalog_url)


def _finished(tenant: Tenant, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = tenant.http.get(f"{tenant.api}/imports/{job_id}", headers=tenant.auth()).json()["result"]
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, f"job still running: {job}"
        time.sleep(0.05)


def test_a_posted_url_list_runs_in_the_background(importer: Tenant) -> None:
    origin = Origin()
    images = small_images(2)
    origin.files["/one.png"], origin.files["/two.png"] = images
    with serve(origin.app(), host="127.0.0.2") as base:
        urls = [{"url": f"{base}/one.png", "id": "one", "metadata": {"a": 1}}, f"{base}/two.png", f"{base}/nope.png"]
        answer = importer.http.post(f"{importer.api}/imports", headers=importer.auth(), json={"urls": urls})
        assert answer.status_code == 200, answer.text
        started = answer.json()["result"]
        assert started["state"] == "running" and started["total"] == 3 and started["started_by"].startswith("token:")
        job = _finished(importer, started["id"])
    assert job["state"] == "done"
    assert job["counts"] == {"pending": 0, "done": 2, "skipped": 0, "failed": 1, "bytes": sum(map(len, images))}
    blob = importer.http.get(f"{importer.api}/v1/one/blob", headers=importer.auth())
    assert blob.content == images[0]
    details = importer.http.get(f"{importer.api}/v1/one", headers=importer.auth()).json()["result"]
    assert details["meta"] == {"a": 1}
    log = importer.http.get(
        f"{importer.api}/imports/{job['id']}/log", params={"format": "jsonl"}, headers=importer.auth()
    )
    assert log.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in log.text.splitlines()]
    assert [r["state"] for r in rows] == ["done", "done", "failed"] and "404" in rows[2]["reason"]
    table = importer.http.get(f"{importer.api}/imports/{job['id']}/log", headers=importer.auth())
    assert table.headers["content-type"].startswith("text/csv")
    assert [r["state"] for r in csv.DictReader(io.StringIO(table.text))] == ["done", "done", "failed"]
    listed = importer.http.get(f"{importer.api}/imports", headers=importer.auth()).json()["result"]["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_an_s3_job_can_be_cancelled(importer: Tenant, s3_endpoint: str) -> None:
    bucket = fill_bucket(s3_endpoint, 200)
    body = {"from": f"s3://{bucket.name}/photos/", "endpoint_url": s3_endpoint, "rate": 20, "concurrency": 1}
    allowed = importer
    started = allowed.http.post(f"{allowed.api}/imports", headers=allowed.auth(), json=body).json()["result"]
    deadline = time.monotonic() + 60
    while (
        allowed.http.get(f"{allowed.api}/imports/{started['id']}", headers=allowed.auth()).json()["result"]["counts"][
            "done"
        ]
        < 3
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = allowed.http.post(f"{allowed.api}/imports/{started['id']}/cancel", headers=allowed.auth())
    assert cancelled.json()["result"]["state"] == "cancelled"
    job = _finished(allowed, started["id"])
    assert job["state"] == "cancelled" and job["counts"]["pending"] > 0 and job["counts"]["done"] >= 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"from": "urls:/etc/passwd"}, 400, "for the CLI"),
        ({"from": "ftp://x"}, 400, "the source must be"),
        ({"urls": []}, 400, "non-empty list"),
        ({"urls": ["http://a.test/x"], "concurrency": 0}, 400, "concurrency"),
        ({"urls": ["http://a.test/x"], "colour": "red"}, 400, "unknown field"),
        ({"from": "s3://b/", "endpoint_url": "http://10.1.2.3:9000"}, 403, "internal address"),
        ({"from": "images-api:http://user:pw@a.test/client/v4/x"}, 400, "credentials"),
    ],
)
def test_bad_starts_are_refused_clearly(importer: Tenant, body: dict[str, Any], status: int, message: str) -> None:
    answer = importer.http.post(f"{importer.api}/imports", headers=importer.auth(), json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["errors"][0]["message"]


def test_jobs_need_the_account_token_and_exist(importer: Tenant) -> None:
    assert importer.http.get(f"{importer.api}/imports").status_code == 401
    missing = importer.http.get(f"{importer.api}/imports/0123", headers=importer.auth())
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 5404
    assert (
        importer.http.get(
            f"{importer.api}/imports/0123/log", params={"format": "xml"}, headers=importer.auth()
        ).status_code
        == 400
    )
