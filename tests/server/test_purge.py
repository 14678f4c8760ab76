"""Purges that reach everyone (issue 25 item 8): CDN tags on deliveries, the catalog's purge log
read by every replica, and the operator's purge webhook."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.imaging import quadrants, save
from tests.server.conftest import Start, Tenant, open_tenant

ODD_ID = "a b/c%d é"  # everything a header value must not hold raw


def _upload(tenant: Tenant, image_id: str) -> None:
    png = save(quadrants(40, 20), "png")
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
