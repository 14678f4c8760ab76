"""``draw=`` on /cdn-cgi/image and on hosted variants, over real HTTP; decoded pixels."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.steps import border_trim
from tests.imaging import decode, near, pixel, save, solid
from tests.server.conftest import Tenant

RED = save(solid(20, 10, (255, 0, 0)), "png")


def _with_marks(origin_dir: Path) -> None:
    (origin_dir / "marks").mkdir(exist_ok=True)
    (origin_dir / "marks" / "red.png").write_bytes(RED)
    (origin_dir / "red.png").write_bytes(RED)


def test_overlay_from_the_origin_placed_and_sized(client: httpx.Client, origin_dir: Path) -> None:
    _with_marks(origin_dir)
    url = "/cdn-cgi/image/width=400,format=png,draw=url(/marks/red.png),draw.width=0.1,draw.bottom=0,draw.right=0"
    response = client.get(f"{url}/photo.jpg")
    assert response.status_code == 200, response.text
    image = decode(response.content)
    assert (image.width, image.height) == (400, 300)
    # 0.1 of 400 = 40 px wide (20 high), in the bottom-right corner
    assert near(pixel(image, 362, 282), (255, 0, 0), 2) and near(pixel(image, 398, 298), (255, 0, 0), 2)
    assert not near(pixel(image, 356, 290), (255, 0, 0), 40) and not near(pixel(image, 380, 277), (255, 0, 0), 40)
    again = client.get(f"{url}/photo.jpg")
    assert again.headers["x-enlarger-cache"] == "HIT" and again.content == response.content


def test_bare_name_tiled_at_half_opacity(client: httpx.Client, origin_dir: Path) -> None:
    _with_marks(origin_dir)
    plain = decode(client.get("/cdn-cgi/image/format=png/nested/quad.png").content)
    response = client.get("/cdn-cgi/image/format=png,draw=red.png,draw.opacity=0.5,draw.repeat=true/nested/quad.png")
    image = decode(response.content)
    for x, y in ((1, 1), (150, 30), (199, 99)):
        base = pixel(plain, x, y)
        assert near(pixel(image, x, y), ((base[0] + 255) / 2, base[1] / 2, base[2] / 2), 3)


def test_overlay_options_change_the_cache_key(client: httpx.Client, origin_dir: Path) -> None:
    _with_marks(origin_dir)
    first = client.get("/cdn-cgi/image/format=png,draw=red.png,draw.top=0/nested/quad.png")
    moved = client.get("/cdn-cgi/image/format=png,draw=red.png,draw.top=50/nested/quad.png")
    assert first.headers["etag"] != moved.headers["etag"] and first.content != moved.content


def test_refusals(client: httpx.Client, origin_dir: Path) -> None:
    _with_marks(origin_dir)
    cases = {
        "draw.opacity=0.5": (400, "draw=<image>"),
        "draw=red.png,draw.left=1,draw.right=1": (400, "left or right"),
        "draw=url(http://127.0.0.1:9/x.png)": (403, ""),
        "draw=missing.png": (404, ""),
    }
    for options, (status, words) in cases.items():
        response = client.get(f"/cdn-cgi/image/{options}/photo.jpg")
        assert response.status_code == status, (options, response.text)
        assert words in response.text


def test_variant_draws_a_hosted_image_of_the_account(tenant: Tenant) -> None:
    account = tenant.account.id
    for image_id, data in (("photo", save(solid(400, 200, (0, 0, 255)), "png")), ("marks/logo", RED)):
        tenant.sdk.images.v1.create(account_id=account, id=image_id, file=("f.png", io.BytesIO(data), "image/png"))
    body = {"id": "marked", "options": {"fit": "scale-down", "width": 200, "draw": "marks/logo", "draw.opacity": 0.5,
            "draw.top": 0, "draw.left": 0}}  # fmt: skip
    created = tenant.http.post(f"{tenant.api}/v1/variants", json=body, headers=tenant.auth())
    assert created.status_code == 200, created.text
    response = tenant.http.get(f"/{tenant.account.hash}/photo/marked", headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text
    image = decode(response.content)
    assert (image.width, image.height) == (200, 100)
    assert near(pixel(image, 5, 5), (128, 0, 127), 16) and near(pixel(image, 30, 5), (0, 0, 255), 16)
    # deleting the overlay image purges the outputs drawn with it
    deleted = tenant.http.delete(f"{tenant.api}/v1/marks/logo", headers=tenant.auth())
    assert deleted.status_code == 200
    assert tenant.http.get(f"/{tenant.account.hash}/photo/marked").status_code == 404


def test_an_unknown_variant_option_is_still_refused(tenant: Tenant) -> None:
    body = {"id": "bad", "options": {"blur": 3}}
    response = tenant.http.post(f"{tenant.api}/v1/variants", json=body, headers=tenant.auth())
    assert response.status_code == 400 and "blur" in response.text


def test_a_damaged_base_is_415_whatever_the_overlay_size(client: httpx.Client, origin_dir: Path) -> None:
    # a fractional draw.width is sized from the base's plan inside the engine's one decide, so the
    # damage found by trim=border's analysis is classified there too (it was a 500/9523)
    _with_marks(origin_dir)
    whole = (origin_dir / "photo.jpg").read_bytes()
    (origin_dir / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    for draw in ("", ",draw=red.png,draw.width=100", ",draw=red.png,draw.width=0.2", ",draw=red.png,draw.height=0.5"):
        response = client.get(f"/cdn-cgi/image/trim=border,width=600{draw}/cut.jpg")
        assert response.status_code == 415, (draw, response.text)
        assert response.headers["cf-resized"] == "err=9520" and "damaged or truncated" in response.text


def test_border_analysis_runs_once_per_miss_with_a_fractional_overlay(
    client: httpx.Client, origin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_marks(origin_dir)
    calls: list[int] = []
    real = border_trim.detect_border

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr("enlarger.pipeline.detect_border", counted)  # where decide calls it
    url = "/cdn-cgi/image/trim=border,width=300,format=png,draw=red.png,draw.width=0.2,draw.top=0,draw.left=0"
    response = client.get(f"{url}/photo.jpg")
    assert response.status_code == 200, response.text
    assert len(calls) == 1
    image = decode(response.content)
    assert near(pixel(image, 2, 2), (255, 0, 0), 2)  # 0.2 of 300 = 60 px wide, 30 high, at the corner
    assert near(pixel(image, 57, 27), (255, 0, 0), 2) and not near(pixel(image, 64, 10), (255, 0, 0), 40)
