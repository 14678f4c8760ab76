"""The upload widget on the example page: a host backend (the SDK) hands out an upload URL, the
browser uploads straight to Enlarger, and the image shows in the dashboard."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette

from tests.imaging import gradient, save
from tests.live import serve
from tests.web.conftest import Site, sign_in

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "widget" / "backend.py"


def _example_app(site: Site) -> Starlette:
    spec = importlib.util.spec_from_file_location("widget_backend", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: Starlette = module.create_app(site.base, site.account.id, site.token)
    return app


@pytest.fixture
def host(site: Site) -> Iterator[str]:
    """The example host application, on another origin than Enlarger (another address)."""
    with serve(_example_app(site), host="127.0.0.2") as base:
        yield base


def test_widget_uploads_through_the_example_backend(page: Page, site: Site, host: str, tmp_path: Path) -> None:
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(save(gradient(300, 200), "jpeg", Q=85))
    page.goto(f"{host}/")
    page.locator("enlarger-upload input[type=file]").set_input_files(str(photo))
    expect(page.locator("#image-id")).not_to_have_text("", timeout=20_000)
    image_id = page.locator("#image-id").text_content()
    url = page.locator("#image-url").text_content()
    assert image_id and url == f"{site.base}/{site.account.hash}/{image_id}/public"
    expect(page.locator("enlarger-upload").locator("p[role=status]")).to_have_text("Uploaded holiday.jpg")
    record = site.api("GET", f"/v1/{image_id}")
    assert record["filename"] == "holiday.jpg" and record["meta"] == {"source": "widget"}
    assert "draft" not in record
    delivered = httpx.get(url, headers={"Accept": "image/webp"})
    assert delivered.status_code == 200 and delivered.headers["content-type"] == "image/webp"

    sign_in(page, site)
    expect(page.locator(".tile .tile-id", has_text=image_id)).to_have_count(1)


def test_widget_checks_type_and_size_before_uploading(page: Page, site: Site, host: str, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    page.goto(f"{host}/")
    events = page.evaluate_handle(
        "() => { const seen = []; document.addEventListener('enlarger-error', (e) => seen.push(e.detail.message));"
        " return seen; }"
    )
    page.locator("enlarger-upload input[type=file]").set_input_files(str(text))
    status = page.locator("enlarger-upload").locator("p[role=status]")
    expect(status).to_have_text("notes.txt is not an accepted image type (text/plain)")
    assert events.evaluate("seen => seen.length") == 1
    before = len(site.api("GET", "/v2")["images"])
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 10))
    page.locator("enlarger-upload input[type=file]").set_input_files(str(big))
    expect(status).to_have_text("big.jpg is too large: 10,485,772 bytes, the limit is 10,485,760")
    assert len(site.api("GET", "/v2")["images"]) == before  # nothing was sent
