"""The serving core with a front door of its own: a producer that composes two inputs.

This is the shape the programmable pipeline will take: it locates its inputs, names its recipe
for the cache key, and hands ``respond`` a producer; ETags, caching, admission and purge tags
come from the core unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enlarger.cache import DiskCache, Entry
from enlarger.options import parse_options
from enlarger.security.addresses import AddressGuard
from enlarger.security.fetch import Fetcher
from enlarger.server.admission import Admission
from enlarger.server.guard import guarded
from enlarger.server.metrics import Metrics
from enlarger.server.outputs import OutputRequest, Services, Work, respond
from enlarger.server.purge import PurgeIndex
from enlarger.settings import Settings
from enlarger.sources import Located, Sources
from tests.imaging import gradient, save
from tests.live import serve


@pytest.fixture
def core(tmp_path: Path) -> Iterator[tuple[httpx.Client, list[str]]]:
    """A one-route app over the core: ``/side-by-side/<a>/<b>`` puts two origin images side by side."""
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "a.png").write_bytes(save(gradient(40, 30), "png"))
    (origin / "b.png").write_bytes(save(gradient(20, 30), "png"))
    settings = Settings(data_dir=tmp_path / "data", origin=str(origin))
    metrics = Metrics()
    cache = DiskCache(tmp_path / "cache", 10_000_000)
    fetcher = Fetcher(AddressGuard(), connect_timeout=1, total_timeout=1, max_redirects=0, max_bytes=1_000_000)
    sources = Sources(str(origin), fetcher, allow_url=lambda _u: False, max_bytes=1_000_000, revalidate_seconds=0)
    services = Services(
        settings, sources, cache, Admission(1, 4, metrics), metrics, {}, PurgeIndex(tmp_path / "tags", cache)
    )
    produced: list[str] = []

    async def side_by_side(request: Request) -> Response:
        left = await services.sources.locate(request.path_params["a"])
        right = await services.sources.locate(request.path_params["b"])

        async def produce(output: OutputRequest, _accept: str | None, _settings: Settings) -> Work:
            images = [await left.read(), await right.read()]  # reads happen before admission

            def work() -> Entry:
                produced.append(output.recipe or "")
                a, b = (pyvips.Image.new_from_buffer(i, "") for i in images)
                joined = a.join(b, "horizontal")
                return Entry(joined.pngsave_buffer(), "image/png", "png", joined.width, joined.height)

            return work

        composed = Located(f"{left.identity}+{right.identity}", left.read, None)
        output = OutputRequest(
            parse_options("format=png"), composed, tags=("demo",), produce=produce, recipe="side-by-side"
        )
        return await respond(request, services, output)

    app = Starlette(routes=[Route("/side-by-side/{a}/{b}", guarded(side_by_side))])
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, produced
    services.admission.shutdown()


def test_a_custom_producer_is_served_cached_and_revalidated(core: tuple[httpx.Client, list[str]]) -> None:
    client, produced = core
    first = client.get("/side-by-side/a.png/b.png")
    assert first.status_code == 200, first.text
    assert first.headers["x-enlarger-cache"] == "MISS"
    image = pyvips.Image.new_from_buffer(first.content, "")
    assert (image.width, image.height) == (60, 30)
    again = client.get("/side-by-side/a.png/b.png")
    assert again.headers["x-enlarger-cache"] == "HIT"
    assert again.content == first.content
    assert client.get("/side-by-side/a.png/b.png", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    assert produced == ["side-by-side"]  # one production for three requests


def test_errors_in_a_custom_front_door_go_through_the_guard(core: tuple[httpx.Client, list[str]]) -> None:
    client, produced = core
    response = client.get("/side-by-side/a.png/missing.png")
    assert response.status_code == 404
    assert response.headers["cf-resized"] == "err=9404"
    assert produced == []
