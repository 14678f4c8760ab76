"""Login CSRF in Chromium (issue 24, finding 5): a page on another site posts a hidden form to
/dashboard/session with the attacker's token; the victim's browser must not end up signed in."""

from __future__ import annotations

from html import escape

from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from enlarger.catalog.store import Catalog
from enlarger.settings import Settings
from tests.live import serve
from tests.web.conftest import Site


def _attacker(target: str, token: str) -> Starlette:
    """A site on another address whose page submits a text/plain form carrying JSON (no CORS needed)."""
    name = escape(f'{{"token":"{token}","x":"')
    page = f"""<!doctype html><title>win a prize</title>
<form id="f" method="POST" action="{escape(target)}/dashboard/session" enctype="text/plain">
<input type="hidden" name="{name}" value='"}}'></form>
<script>document.getElementById("f").submit()</script>"""

    async def index(_request: Request) -> Response:
        return HTMLResponse(page)

    return Starlette(routes=[Route("/", index)])


def test_a_form_on_another_site_cannot_sign_the_victim_in(browser: Browser, site: Site) -> None:
    catalog = Catalog(Settings(data_dir=site.data_dir).catalog_url)
    attacker_account = catalog.create_account("attacker")
    _, attacker_token = catalog.create_token(attacker_account.id, "attacker")
    catalog.close()
    context = browser.new_context()
    try:
        page = context.new_page()
        with serve(_attacker(site.base, attacker_token), host="127.0.0.2") as evil:
            with page.expect_response(f"{site.base}/dashboard/session") as posted:
                page.goto(evil + "/")
            answer = posted.value
            assert answer.request.method == "POST" and answer.request.headers["content-type"] == "text/plain"
            assert answer.status == 403  # refused: another site's page
        assert "enlarger_session" not in {c["name"] for c in context.cookies(site.base)}
        page.goto(f"{site.base}/dashboard/")
        page.get_by_label("API token").wait_for()  # the sign-in form: nobody is signed in
        whoami = page.evaluate("fetch('/dashboard/session').then(r => r.json())")
        assert whoami["result"]["account"] is None
    finally:
        context.close()
