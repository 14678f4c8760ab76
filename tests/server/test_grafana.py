"""The Grafana dashboard (deploy/grafana/enlarger.json) queries only metrics a live server exports."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

from cloudflare import Cloudflare
from prometheus_client.parser import text_string_to_metric_families

from enlarger.catalog.store import Catalog
from enlarger.settings import Settings
from tests.imaging import gradient, save
from tests.importing.conftest import small_images
from tests.live import Origin, serve
from tests.server.conftest import OUTSIDE_NET, Start, Tenant

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "enlarger.json"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def queried_names() -> set[str]:
    """Every metric name in the dashboard's PromQL: identifiers outside label matchers and strings
    that are not PromQL functions, keywords or the grouping labels."""
    names: set[str] = set()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        bare = re.sub(r"\{[^}]*\}", "", re.sub(r"\[[^\]]*\]", "", expr))  # drop matchers and ranges
        bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)  # and grouping labels
        for word in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", bare):  # a name not called
            names.add(word)
    return names


def exported(text: str) -> tuple[set[str], set[str]]:
    """The sample names a /metrics text declares (from each family's type), and those with samples."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for family in text_string_to_metric_families(text):
        declared.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        sampled.update(sample.name for sample in family.samples)
    return declared | sampled, sampled


def _traffic(tenant: Tenant, origin_base: str) -> None:
    """A miss, a hit, a missing source, an upload and its delivery, the usage read, an import job."""
    http = tenant.http
    assert http.get("/cdn-cgi/image/width=50/photo.jpg").headers["x-enlarger-cache"] == "MISS"
    assert http.get("/cdn-cgi/image/width=50/photo.jpg").headers["x-enlarger-cache"] == "HIT"
    assert http.get("/cdn-cgi/image/width=50/nothing.jpg").status_code == 404
    image = tenant.sdk.images.v1.create(
        account_id=tenant.account.id, file=("p.jpg", io.BytesIO(save(gradient(80, 60), "jpeg")), "image/jpeg")
    )
    assert http.get(f"/{tenant.account.hash}/{image.id}/public").status_code == 200
    assert http.get(f"{tenant.api}/v1/stats", headers=tenant.auth()).status_code == 200
    job = http.post(f"{tenant.api}/imports", headers=tenant.auth(), json={"urls": [f"{origin_base}/one.png"]})
    assert job.status_code == 200, job.text
    deadline = time.monotonic() + 60
    while (
        http.get(f"{tenant.api}/imports/{job.json()['result']['id']}", headers=tenant.auth()).json()["result"]["state"]
        == "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_every_metric_the_dashboard_queries_is_exported(start: Start, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    account = catalog.create_account("dashboards")
    _, token = catalog.create_token(account.id)
    catalog.close()

    http = start(data_dir=data_dir, fetch_allowed_networks=(OUTSIDE_NET,), import_poll_seconds=0.2)
    sdk = Cloudflare(api_token=token, base_url=str(http.base_url).rstrip("/") + "/client/v4", max_retries=0)
    origin = Origin()
    origin.files["/one.png"] = small_images(1)[0]
    with sdk, serve(origin.app(), host="127.0.0.2") as origin_base:
        _traffic(Tenant(http, sdk, account, token, data_dir, ""), origin_base)
    metrics = http.get("/metrics").text
    names, sampled = exported(metrics)
    queried = queried_names()
    assert {"enlarger_requests_total", "enlarger_transform_seconds_bucket", "enlarger_import_jobs"} <= queried
    assert queried - names == set(), metrics
    # the series the traffic made are there with values, not only declared
    for name in ("enlarger_usage_delivered_images_total", "enlarger_origin_fetch_errors_total", "enlarger_import_jobs"):
        assert name in sampled
    done = [s for f in text_string_to_metric_families(metrics) for s in f.samples if s.name == "enlarger_import_jobs"]
    assert {s.labels["state"]: s.value for s in done}["done"] == 1
