"""One Enlarger for the client tests: an origin directory, an account with a token and flexible
variants, one hosted image, and the binding backend beside it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from enlarger.binding import Images
from enlarger.catalog.store import Catalog
from enlarger.server import binding
from enlarger.server.app import create_app
from enlarger.settings import Settings
from tests.imaging import gradient, quadrants, save
from tests.live import serve

PHOTO = save(gradient(640, 480), "jpeg", Q=90)


@dataclass(frozen=True)
class Service:
    base: str
    binding: str
    token: str
    account_id: str
    account_hash: str
    image_id: str
    files: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("clients")
    origin = root / "origin"
    (origin / "nested").mkdir(parents=True)
    (origin / "photo.jpg").write_bytes(PHOTO)
    (origin / "nested" / "quad.png").write_bytes(save(quadrants(200, 100), "png"))
    files = root / "files"
    files.mkdir()
    (files / "photo.jpg").write_bytes(PHOTO)
    (files / "alpha.png").write_bytes(save(quadrants(200, 100, alpha=True), "png"))
    settings = Settings(data_dir=root / "data", origin=str(origin))
    catalog = Catalog(settings.catalog_url)
    account = catalog.create_account("clients")
    catalog.set_flexible_variants(account.id, True)
    _, token = catalog.create_token(account.id)
    catalog.close()
    with serve(create_app(settings)) as base, serve(binding.create_app(Images(settings))) as backend:
        uploaded = httpx.post(
            f"{base}/client/v4/accounts/{account.id}/images/v1",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("photo.jpg", io.BytesIO(PHOTO), "image/jpeg")},
            timeout=30,
        )
        assert uploaded.status_code == 200, uploaded.text
        image_id = uploaded.json()["result"]["id"]
        yield Service(base, backend, token, account.id, account.hash, image_id, files)
