"""The imports API over real HTTP: start jobs that the server runs in the background, watch them,
cancel one, download logs; bad requests get clear 4xx answers."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cloudflare import Cloudflare

from enlarger.catalog.store import Catalog
from enlarger.importing.jobs import ImportOptions, JobStore
from enlarger.settings import Settings
from tests.importing.conftest import fill_bucket, small_images
from tests.live import Origin, serve
from tests.resolver import stub_dns
from tests.server.conftest import OUTSIDE_NET, Start, Tenant

Importer = Callable[..., Tenant]


@pytest.fixture
def importer_with(start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Importer]:
    """``importer_with(**settings)``: a server with one account whose token the tenant holds."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    data_dir = tmp_path / "data"
    catalog_url = Settings(data_dir=data_dir).catalog_url
    catalog = Catalog(catalog_url)
    account = catalog.create_account("imports")
    _, token = catalog.create_token(account.id)
    catalog.close()
    with ExitStack() as stack:

        def make(**settings: Any) -> Tenant:
            values: dict[str, Any] = {"import_poll_seconds": 0.2, "import_lease_seconds": 2}
            http = start(data_dir=data_dir, **(values | settings))
            base_url = str(http.base_url).rstrip("/") + "/client/v4"
            sdk = stack.enter_context(Cloudflare(api_token=token, base_url=base_url, max_retries=0))
            return Tenant(http, sdk, account, token, data_dir, catalog_url)

        yield make


@pytest.fixture
def importer(importer_with: Importer) -> Tenant:
    # the origin on 127.0.0.2 and moto's S3 on 127.0.0.1
    return importer_with(fetch_allowed_networks=(OUTSIDE_NET, "127.0.0.1/32"))


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


def test_an_s3_job_can_be_cancelled(importer_with: Importer, s3_endpoint: str) -> None:
    bucket = fill_bucket(s3_endpoint, 200)
    body = {"from": f"s3://{bucket.name}/photos/", "endpoint_url": s3_endpoint, "rate": 20, "concurrency": 1}
    networks = (OUTSIDE_NET, "127.0.0.1/32")
    allowed = importer_with(fetch_allowed_networks=networks, import_s3_credential_endpoints=(s3_endpoint,))
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
        # issue 24, finding 8: these were 500s
        ({"urls": ["http://[::1/a.png"]}, 400, "urls[0]: the URL is malformed"),
        (
            {"urls": ["http://a.test/a.png", "http://127.0.0.1:80:80/a.png"]},
            400,
            "urls[1]: the source URL is malformed",
        ),
        ({"from": "s3://b/", "endpoint_url": "http://127.0.0.1:80:80/"}, 400, "endpoint is malformed"),
        ({"from": "s3://b/", "endpoint_url": "http://[::1/"}, 400, "endpoint is malformed"),
        ({"from": "images-api:http://[::1/client/v4/x"}, 400, "base URL is malformed"),
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


def test_the_import_token_never_goes_to_a_host_a_tenant_names(importer_with: Importer) -> None:
    """Issue 24, finding 2: ``images-api:http://attacker/…`` must not receive ``Bearer <import_api_token>``."""
    attacker = Origin()  # records every request's headers
    with serve(attacker.app(), host="127.0.0.2") as base:
        source = f"images-api:{base}/client/v4/victim"
        tenant = importer_with(fetch_allowed_networks=(OUTSIDE_NET,), import_api_token="operator-secret")
        answer = tenant.http.post(f"{tenant.api}/imports", headers=tenant.auth(), json={"from": source})
        assert answer.status_code == 400, answer.text
        assert "import_api_token_urls" in answer.json()["errors"][0]["message"]
        time.sleep(0.5)  # a worker that had started a job would have asked by now (import_poll_seconds=0.2)
    assert attacker.requests == []


def test_the_import_token_goes_to_a_base_url_the_operator_listed(importer_with: Importer) -> None:
    api = Origin()  # records every request's headers (and answers 404: the job fails, that is all)
    with serve(api.app(), host="127.0.0.2") as base:
        source = f"images-api:{base}/client/v4/mine"
        tenant = importer_with(
            fetch_allowed_networks=(OUTSIDE_NET,), import_api_token="operator-secret", import_api_token_urls=(base,)
        )
        started = tenant.http.post(f"{tenant.api}/imports", headers=tenant.auth(), json={"from": source})
        assert started.status_code == 200, started.text
        _finished(tenant, started.json()["result"]["id"])
    assert api.requests and all(h["authorization"] == "Bearer operator-secret" for _, h in api.requests)


def test_an_s3_endpoint_rebound_to_loopback_gets_no_request(
    importer_with: Importer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24, finding 4: the name answers a public address when the job is created and 127.0.0.1
    when boto3 connects; the connection is checked when it is opened, so loopback sees nothing."""
    inside = Origin()  # an "internal" service on 127.0.0.1 that records what reaches it
    with stub_dns(monkeypatch) as dns, serve(inside.app(), host="127.0.0.1") as base:
        port = base.rsplit(":", 1)[1]
        dns.answers["s3.canary.test"] = ["93.184.215.14", "127.0.0.1"]  # public first, loopback after
        tenant = importer_with(fetch_allowed_networks=(OUTSIDE_NET,))
        body = {"from": "s3://bucket/photos/", "endpoint_url": f"http://s3.canary.test:{port}"}
        answer = tenant.http.post(f"{tenant.api}/imports", headers=tenant.auth(), json=body)
        assert answer.status_code == 200, answer.text
        job = _finished(tenant, answer.json()["result"]["id"])
        assert job["state"] == "failed", job
        assert "internal address" in job["error"]
        assert len(dns.asked) >= 2  # checked at creation, and again at the connection
    assert inside.requests == []


@pytest.mark.parametrize("listed", [False, True], ids=["unlisted", "listed"])
def test_s3_credentials_sign_only_for_endpoints_the_operator_listed(importer_with: Importer, listed: bool) -> None:
    """The rule for credentials: a tenant's endpoint_url gets unsigned requests unless it is listed.
    (One server per case: servers on one catalog share its jobs, so another's runner could take it.)"""
    fake = Origin()  # answers 404 to everything; records the headers boto3 sent
    with serve(fake.app(), host="127.0.0.2") as base:
        body = {"from": "s3://bucket/photos/", "endpoint_url": base}
        endpoints = (base,) if listed else ()
        tenant = importer_with(fetch_allowed_networks=(OUTSIDE_NET,), import_s3_credential_endpoints=endpoints)
        started = tenant.http.post(f"{tenant.api}/imports", headers=tenant.auth(), json=body)
        assert started.status_code == 200, started.text
        assert _finished(tenant, started.json()["result"]["id"])["state"] == "failed"
        sent = [headers.get("authorization", "") for _, headers in fake.requests]
        assert sent and all(("Credential=test/" in h) is listed for h in sent), sent


def test_a_job_whose_source_cannot_be_opened_fails_instead_of_running_forever(importer: Tenant) -> None:
    """Issue 24, finding 8: boto3 refused a Unicode endpoint host outside the handled errors, and the
    job stayed "running", retried at every lease. (New jobs get the host folded to ASCII; this one
    is written as a job created before that.)"""
    catalog = Catalog(importer.catalog_url)
    config = {"kind": "s3", "bucket": "b", "prefix": "", "endpoint": "http://bücher.test:9000", "region": "us-east-1"}
    job = JobStore(catalog).create(
        importer.account.id,
        "s3://b/",
        config,
        ImportOptions("", False, False, False, 1, 0.0),
        started_by="t",
        runner="server",
    )
    catalog.close()
    finished = _finished(importer, job.id, timeout=20)
    assert finished["state"] == "failed"
    assert "cannot be used" in finished["error"]
