"""A running service per test, over a local origin directory with generated images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudflare import Cloudflare

from enlarger.catalog.store import Account, Catalog
from enlarger.server.app import create_app
from enlarger.settings import Settings
from tests.imaging import gradient, quadrants, save
from tests.live import Origin, serve

Start = Callable[..., httpx.Client]
OUTSIDE_NET = "127.0.0.2/32"  # the "outside" origin of the tests; the only internal address they allow


@pytest.fixture
def origin_dir(tmp_path: Path) -> Path:
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "photo.jpg").write_bytes(save(gradient(640, 480), "jpeg", Q=90))
    (origin / "alpha.png").write_bytes(save(quadrants(200, 100, alpha=True), "png"))
    (origin / "nested").mkdir()
    (origin / "nested" / "quad.png").write_bytes(save(quadrants(200, 100), "png"))
    (origin / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return origin


@pytest.fixture
def start(tmp_path: Path, origin_dir: Path) -> Iterator[Start]:
    """``start(**settings)`` runs a service and returns a client bound to it."""
    with ExitStack() as stack:

        def run(**overrides: Any) -> httpx.Client:
            values: dict[str, Any] = {"data_dir": tmp_path / "data", "origin": str(origin_dir)}
            values.update(overrides)
            base = stack.enter_context(serve(create_app(Settings(**values))))
            return stack.enter_context(httpx.Client(base_url=base, timeout=30))

        yield run


@pytest.fixture
def client(start: Start) -> httpx.Client:
    return start()


@dataclass
class Tenant:
    """A running service with one account, its API token and the official SDK pointed at it."""

    http: httpx.Client
    sdk: Cloudflare
    account: Account
    token: str
    data_dir: Path
    catalog_url: str

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def api(self) -> str:
        return f"/client/v4/accounts/{self.account.id}/images"


def open_tenant(start: Start, data_dir: Path, **settings: Any) -> Tenant:
    """Create an account and token in ``data_dir``'s catalog, then start a service on it."""
    catalog_url = Settings(data_dir=data_dir, **settings).catalog_url  # SQLite in data_dir unless database_url
    catalog = Catalog(catalog_url)
    account = catalog.create_account("tests")
    _, token = catalog.create_token(account.id)
    catalog.close()
    http = start(data_dir=data_dir, fetch_allowed_networks=(OUTSIDE_NET,), **settings)
    sdk = Cloudflare(api_token=token, base_url=str(http.base_url).rstrip("/") + "/client/v4", max_retries=0)
    return Tenant(http, sdk, account, token, data_dir, catalog_url)


@pytest.fixture
def tenant(start: Start, tmp_path: Path) -> Iterator[Tenant]:
    opened = open_tenant(start, tmp_path / "data")
    with opened.sdk:
        yield opened


@pytest.fixture
def origin_url() -> Iterator[str]:
    """An HTTP origin on 127.0.0.2 serving /remote/photo.jpg (a 200×100 PNG, whatever its name says)."""
    origin = Origin()
    origin.files["/remote/photo.jpg"] = save(quadrants(200, 100), "png")
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base
