"""``/metrics`` names no tenant unless the operator opts in, and can be closed with a token
(issue 24, finding 10)."""

from __future__ import annotations

import io
from pathlib import Path

from tests.imaging import save, solid
from tests.server.conftest import Start, Tenant, open_tenant


def _deliver(tenant: Tenant) -> None:
    data = save(solid(64, 48, (9, 9, 9)), "png")
    account = tenant.account.id
    tenant.sdk.images.v1.create(account_id=account, id="one", file=("a.png", io.BytesIO(data), "image/png"))
    assert tenant.http.get(f"/{tenant.account.hash}/one/public").status_code == 200


def test_metrics_name_no_account_by_default(tenant: Tenant) -> None:
    _deliver(tenant)
    metrics = tenant.http.get("/metrics")
    assert metrics.status_code == 200
    assert tenant.account.id not in metrics.text and tenant.account.hash not in metrics.text
    assert "enlarger_usage_delivered_images_total 1.0" in metrics.text  # the total is still there
    assert "\nenlarger_usage_stored_images " in metrics.text  # (the last read; refreshed now and then)


def test_per_account_series_are_opt_in(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", metrics_per_account=True)
    _deliver(tenant)
    text = tenant.http.get("/metrics").text
    assert f'enlarger_usage_delivered_images_total{{account="{tenant.account.id}"}} 1.0' in text


def test_a_metrics_token_closes_the_endpoint(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", metrics_token="scrape-secret", metrics_per_account=True)
    _deliver(tenant)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
        refused = tenant.http.get("/metrics", headers=headers)
        assert refused.status_code == 401 and "enlarger_" not in refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer")
    allowed = tenant.http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200 and tenant.account.id in allowed.text
