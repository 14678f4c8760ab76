"""Browser tests: Debian's Chromium driven by Playwright (from PyPI; no browser download).

One browser per test module; each test gets a fresh context whose console errors, failed
requests and error responses fail the test. Without Chromium the tests skip, unless
``ENLARGER_REQUIRE_BROWSER=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Response, sync_playwright

from enlarger.catalog.store import Account, Catalog
from enlarger.server.app import create_app
from enlarger.settings import Settings
from tests.live import serve

CHROMIUM = Path(os.environ.get("ENLARGER_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: where screenshots for docs/ go, when set (ENLARGER_SCREENSHOTS=docs/screenshots)
SCREENSHOTS = os.environ.get("ENLARGER_SCREENSHOTS")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("ENLARGER_REQUIRE_BROWSER") == "1":
            raise RuntimeError(f"{CHROMIUM} not found but ENLARGER_REQUIRE_BROWSER=1")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    yield launched
    launched.close()


@dataclass
class Problems:
    """Everything that went wrong in the page: any entry fails the test."""

    seen: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text}")

    def failed(self, request: Request) -> None:
        self.seen.append(f"request failed: {request.method} {request.url} {request.failure}")

    def response(self, response: Response) -> None:
        if response.status >= 400:
            self.seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    opened = context.new_page()
    problems = Problems()
    opened.on("console", problems.console)
    opened.on("pageerror", lambda error: problems.seen.append(f"page error: {error}"))
    opened.on("requestfailed", problems.failed)
    opened.on("response", problems.response)
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
    assert problems.seen == []


@dataclass
class Site:
    """A running Enlarger with one account and its API token."""

    base: str
    account: Account
    token: str
    data_dir: Path

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base}/client/v4/accounts/{self.account.id}/images{path}"
        response = httpx.request(method, url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["result"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("site") / "data"
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    account = catalog.create_account("Test shop")
    _, token = catalog.create_token(account.id, "tests")
    catalog.close()
    with serve(create_app(Settings(data_dir=data_dir, catalog_cache_seconds=0))) as base:
        yield Site(base, account, token, data_dir)


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/dashboard/")
    page.get_by_label("API token").fill(site.token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Images").wait_for()


def drop_files(page: Page, selector: str, files: list[tuple[str, bytes, str]]) -> None:
    """Drop files on ``selector`` as a user dragging them from the desktop would."""
    payload = [{"name": n, "b64": base64.b64encode(data).decode(), "type": t} for n, data, t in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return transfer;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)
