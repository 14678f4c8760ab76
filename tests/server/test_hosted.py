"""``public_url``: the base of every delivery URL and upload URL the API hands out."""

from __future__ import annotations

import io
from pathlib import Path

from tests.imaging import quadrants, save
from tests.server.conftest import Start, open_tenant

PUBLIC = "https://images.example.com"


def test_public_url_is_the_base_of_delivery_and_upload_urls(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data", public_url=PUBLIC + "/")
    with tenant.sdk:
        png = save(quadrants(40, 20), "png")
        image = tenant.sdk.images.v1.create(account_id=tenant.account.id, file=("a.png", io.BytesIO(png), "image/png"))
        assert image.variants == [f"{PUBLIC}/{tenant.account.hash}/{image.id}/public"]
        slot = tenant.sdk.images.v2.direct_uploads.create(account_id=tenant.account.id)
        assert slot.upload_url is not None and slot.upload_url.startswith(f"{PUBLIC}/upload/")
        # the same paths answer on the address the service really listens on
        local = slot.upload_url.removeprefix(PUBLIC)
        assert tenant.http.post(local, files={"file": ("a.png", png, "image/png")}).status_code == 200
