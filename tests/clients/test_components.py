"""Image components' Cloudflare URLs (Nuxt Image, unpic, Next.js loaders), fetched from Enlarger:
each must answer the image the component asked for."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clients.conftest import Service
from tests.clients.npm import node_client
from tests.imaging import decode, near, pixel

ACCEPT = "image/avif,image/webp,image/*"
SOURCE = (640, 480)  # photo.jpg, and the hosted image
#: case → (width, height, format) the URL must answer; widths above the source stay at its size
#: (fit=scale-down is the default); f=auto with this Accept is AVIF
EXPECTED: dict[str, tuple[int, int, str]] = {
    "nuxt-width": (300, 225, "jpeg"),
    "nuxt-cover-webp": (200, 100, "webp"),
    "nuxt-fill-scale-down": (100, 75, "jpeg"),
    "nuxt-inside-pad": (100, 100, "jpeg"),
    "nuxt-gravity-auto-dpr": (240, 240, "jpeg"),
    "nuxt-sharpen-avif": (160, 120, "avif"),
    "nuxt-query-string": (64, 48, "jpeg"),
    "nuxt-nested": (50, 25, "png"),
    "nuxt-images-variant": (640, 480, "avif"),
    "nuxt-images-flexible": (120, 90, "webp"),
    "unpic-cloudflare": (320, 240, "avif"),
    "unpic-cloudflare-format": (200, 150, "png"),
    "unpic-images": (150, 150, "avif"),  # hosted images are negotiated by Accept
}


@pytest.fixture(scope="module")
def urls(service: Service) -> dict[str, str]:
    found: dict[str, str] = node_client("urls.mjs", service.base, service.account_hash, service.image_id)
    return found


def _expected(case: str, url: str) -> tuple[int, int, str]:
    if case in EXPECTED:
        return EXPECTED[case]
    width = int(url.split("width=", 1)[1].split(",", 1)[0].split("/", 1)[0])  # a Next.js srcset width
    shown = min(width, SOURCE[0])
    return shown, shown * SOURCE[1] // SOURCE[0], "avif" if "format=auto" in url else "jpeg"


def test_every_component_case_is_there(urls: dict[str, str]) -> None:
    assert set(EXPECTED) <= set(urls)
    next_cases = [case for case in urls if case.startswith(("next-docs", "opennext"))]
    assert len(next_cases) >= 4 * 9  # two loaders, with and without a query string: src + srcset


def test_component_urls_answer_what_they_ask_for(urls: dict[str, str], service: Service) -> None:
    failures: list[Any] = []
    with httpx.Client(timeout=60, headers={"Accept": ACCEPT}) as client:
        for case, url in sorted(urls.items()):
            assert url.startswith(service.base), (case, url)
            response = client.get(url)
            if response.status_code != 200:
                failures.append((case, url, response.status_code, response.text[:200]))
                continue
            width, height, fmt = _expected(case, url)
            image = decode(response.content)
            got = (image.width, image.height, response.headers["content-type"].removeprefix("image/"))
            if got != (width, height, fmt):
                failures.append((case, url, got, (width, height, fmt)))
    assert not failures


def test_pad_fills_with_the_background_the_component_named(urls: dict[str, str]) -> None:
    image = decode(httpx.get(urls["nuxt-inside-pad"], timeout=30).content)
    assert near(pixel(image, 50, 3), (255, 0, 0), 12)  # 640×480 in 100×100: red bands above and below
