"""The dashboard in a real browser: sign in, upload by drag-and-drop, edit, variants, signing, usage."""

from __future__ import annotations

import io
import re

import httpx
import pyvips
from playwright.sync_api import Page, expect

from tests.imaging import gradient, quadrants, save
from tests.web.conftest import Site, drop_files, screenshot, sign_in

HOSTILE = '<img src=x onerror="window.pwned=1">'


def _size(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def _natural_width(page: Page, selector: str) -> int:
    width: int = page.eval_on_selector(selector, "img => img.complete ? img.naturalWidth : 0")
    return width


def test_upload_edit_variant_and_signed_url(page: Page, site: Site) -> None:
    sign_in(page, site)
    files = [
        ("red.jpg", save(gradient(320, 240), "jpeg", Q=85), "image/jpeg"),
        ("quad.png", save(quadrants(200, 100), "png"), "image/png"),
        ("wide.webp", save(gradient(400, 100), "webp"), "image/webp"),
    ]
    drop_files(page, ".drop", files)
    expect(page.locator(".queue li.done")).to_have_count(3)
    tiles = page.locator(".grid .tile img")
    expect(tiles).to_have_count(3)
    for index in range(3):
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=tiles.nth(index).element_handle())
        assert tiles.nth(index).evaluate("img => img.naturalWidth") == 240  # a 240² thumbnail, not the original
    names = {image["filename"] for image in site.api("GET", "/v2")["images"]}
    assert {"red.jpg", "quad.png", "wide.webp"} <= names
    screenshot(page, "images")

    # one image: metadata, signing
    page.locator(".tile a", has_text="").filter(has=page.locator("img[alt='red.jpg']")).click()
    page.get_by_role("heading", name="Metadata").wait_for()
    image_id = page.locator("#image-title").text_content()
    assert image_id
    page.get_by_label("Metadata (JSON object)").fill('{"owner": "ada", "sku": 7}')
    page.get_by_label("Creator").fill("shop-admin")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#status")).to_have_text("Metadata saved")
    record = site.api("GET", f"/v1/{image_id}")
    assert record["meta"] == {"owner": "ada", "sku": 7} and record["creator"] == "shop-admin"

    page.get_by_label("Require signed URLs").check()
    expect(page.locator("#status")).to_have_text("Signed URLs are now required")
    delivery = f"{site.base}/{site.account.hash}/{image_id}/public"
    assert httpx.get(delivery).status_code == 403
    page.get_by_label("Expires in (seconds, 0 = never)").fill("600")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Copy signed URL").click()
    expect(page.locator("#status")).to_have_text("signed URL copied")
    signed = page.evaluate("navigator.clipboard.readText()")
    assert signed.startswith(delivery + "?exp=") and "&sig=" in signed
    fetched = httpx.get(signed, headers={"Accept": "image/webp"})
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/webp"
    assert _size(fetched.content) == (320, 240)
    screenshot(page, "image")

    # variants: create with a live preview
    page.get_by_role("link", name="Variants").click()
    page.get_by_role("heading", name="New variant").wait_for()
    page.get_by_label("Image").select_option(image_id)
    page.get_by_label("Name (letters and digits)").fill("thumb")
    page.get_by_label("Fit").select_option("cover")
    page.get_by_label("Width").fill("100")
    page.get_by_label("Height").fill("80")
    page.wait_for_function(
        "() => { const i = document.querySelector('img.preview'); return i && !i.hidden"
        " && i.src.includes('width%3D100') && i.src.includes('height%3D80') && i.complete && i.naturalWidth > 0 }"
    )
    assert _natural_width(page, "img.preview") == 100
    page.get_by_role("button", name="Create variant").click()
    expect(page.get_by_role("row", name="thumb")).to_be_visible()
    screenshot(page, "variants")
    thumb = httpx.get(f"{site.base}/{site.account.hash}/{image_id}/thumb", headers={"Accept": "image/png"})
    assert thumb.status_code == 403  # the image requires signatures; the variant does not waive them
    site.api("PATCH", f"/v1/{image_id}", json={"requireSignedURLs": False})
    thumb = httpx.get(f"{site.base}/{site.account.hash}/{image_id}/thumb")
    assert thumb.status_code == 200 and _size(thumb.content) == (100, 80)

    # usage: the deliveries above are counted and charted
    page.get_by_role("link", name="Usage").click()
    page.get_by_role("heading", name="Images delivered").wait_for()
    assert page.locator("svg.chart").count() == 3
    assert page.locator("svg.chart rect.bar").count() == 1  # one day with deliveries
    stats = page.locator(".stat strong")
    expect(stats.nth(0)).to_contain_text("3 (")
    screenshot(page, "usage")


def test_hostile_values_render_as_text(page: Page, site: Site) -> None:
    record = site.api(
        "POST",
        "/v1",
        files={"file": (f"{HOSTILE}.jpg", io.BytesIO(save(gradient(64, 48), "jpeg")), "image/jpeg")},
        data={
            "id": "evil<b>bold</b>",
            "creator": "<script>window.pwned=1</script>",
            "metadata": f'{{"note": "{HOSTILE.replace(chr(34), "")}"}}',
        },
    )
    sign_in(page, site)
    page.get_by_label("Search").fill("onerror")
    tile = page.locator(".tile", has_text="evil<b>bold</b>")
    expect(tile).to_have_count(1)
    expect(tile.locator(".tile-id")).to_have_text("evil<b>bold</b>")
    assert tile.locator("b").count() == 0
    expect(tile).to_contain_text("<script>window.pwned=1</script>")
    assert record["filename"].startswith("<img src=x onerror=")  # as the client sent it (httpx escapes quotes)
    assert tile.locator("img").get_attribute("alt") == record["filename"]
    tile.locator("a").click()
    expect(page.locator("#image-title")).to_have_text("evil<b>bold</b>")
    expect(page.get_by_label("Metadata (JSON object)")).to_have_value(
        '{\n  "note": "<img src=x onerror=window.pwned=1>"\n}'
    )
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("main img[src='x']").count() == 0


def test_session_cookie_and_headers(page: Page, site: Site) -> None:
    sign_in(page, site)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["enlarger_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/dashboard"
    assert page.evaluate("document.cookie") == ""  # nothing a script can read
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API token").wait_for()
    assert "enlarger_session" not in {c["name"] for c in page.context.cookies()}


def test_account_page_shows_the_accounts_browser_ttl(page: Page, site: Site) -> None:
    """Review 2, finding 4: after the account sets its browser TTL, the page shows it, not the server's default."""
    site.api("PATCH", "/v1/config", json={"browser_ttl": 7200})
    try:
        sign_in(page, site)
        page.goto(f"{site.base}/dashboard/#/account")
        page.get_by_role("heading", name="Account").wait_for()
        ttl = page.locator("dt", has_text="Browser TTL").locator("xpath=following-sibling::dd[1]")
        expect(ttl).to_have_text(re.compile(r"^7200 s "))
    finally:
        site.api("PATCH", "/v1/config", json={"browser_ttl": None})  # the module's other tests see the default
