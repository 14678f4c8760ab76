"""docs/widget.md: "Network failures and 5xx answers are retried …; refusals (4xx: a damaged file,
an expired URL) are not." A damaged file sent through the real widget, the example backend and
Enlarger is refused once and never sent again (a page of its own: the 4xx is the point here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, expect

from tests.web.conftest import Site
from tests.web.test_widget import host

__all__ = ["host"]  # the example host application fixture of tests/web/test_widget.py


@contextmanager
def _page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_refused_upload_is_not_retried(browser: Browser, site: Site, host: str, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(b"\xff\xd8\xff\xe0" + b"this is not really a jpeg" * 40)
    with _page(browser) as page:
        page.set_default_timeout(15_000)
        uploads: list[str] = []

        def sent(request: Request) -> None:
            if request.method == "POST" and "/upload/" in request.url:
                uploads.append(request.url)

        page.on("request", sent)
        page.goto(f"{host}/")
        errors = page.evaluate_handle(
            "() => { const seen = []; document.addEventListener('enlarger-error', (e) => seen.push(e.detail.message));"
            " return seen; }"
        )
        page.locator("enlarger-upload input[type=file]").set_input_files(str(damaged))
        expect(page.locator("enlarger-upload").locator("p[role=status]")).not_to_have_text("", timeout=20_000)
        page.wait_for_function("seen => seen.length > 0", arg=errors, timeout=30_000)  # after the last attempt
        assert len(uploads) == 1
        assert errors.evaluate("seen => seen.length") == 1
