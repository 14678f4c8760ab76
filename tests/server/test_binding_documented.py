"""The Images binding backend as docs/binding.md documents it, over real HTTP: its work goes through
the server's admission control and ``transform_timeout`` (the same ``workers``, ``queue_size`` and
limit as everything else), and ``output_quality`` is the encoder quality.

The admission test runs the full server (``binding_listen``: the main listener and the binding's,
one event loop, one admission), not the binding app alone, which has no admission of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger import pipeline
from enlarger.binding.api import Images
from enlarger.job import Result
from enlarger.server.app import create_app as create_main
from enlarger.server.binding import create_app
from enlarger.server.serve import servers as serve_servers
from enlarger.settings import Settings
from tests.imaging import decode, gradient, save
from tests.live import binding_form, free_port, serve, wait_for

PHOTO = save(gradient(320, 240), "png")


def _post(base: str, parts: list[tuple[str, bytes | str]]) -> httpx.Response:
    body, content_type = binding_form(parts)
    return httpx.post(f"{base}/transform", content=body, headers={"content-type": content_type}, timeout=60)


def _jpeg_dc_quantiser(data: bytes) -> int:
    """The first (DC) entry of the JPEG's first quantisation table (the DQT segment, ITU T.81)."""
    at = data.index(b"\xff\xdb")
    precision_and_id = data[at + 4]
    assert precision_and_id >> 4 == 0  # 8-bit entries
    return data[at + 5]


@pytest.mark.parametrize(("quality", "dc"), [(10, 80), (50, 16), (95, 2)])
def test_output_quality_is_the_encoder_quality(quality: int, dc: int, tmp_path: Path) -> None:
    # IJG scaling of the standard luminance table (DC 16): Q<50 → 5000/Q %, else 200-2Q %
    with serve(create_app(Images(Settings(data_dir=tmp_path)))) as base:
        response = _post(
            base,
            [("image", PHOTO), ("transforms", "[]"), ("output_format", "image/jpeg"), ("output_quality", str(quality))],
        )
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert _jpeg_dc_quantiser(response.content) == dc
    assert decode(response.content).width == 320


def test_binding_work_is_stopped_by_transform_timeout(tmp_path: Path) -> None:
    big = save(gradient(2500, 2500), "png", compression=1)
    settings = Settings(data_dir=tmp_path, transform_timeout=0.05)
    with serve(create_app(Images(settings))) as base:
        slow = _post(
            base,
            [
                ("image", big),
                ("transforms", json.dumps([{"imageIndex": 0, "blur": 250}])),
                ("output_format", "image/png"),
            ],
        )
        assert slow.headers["cf-images-binding"] == "err=9529"
        assert "longer than the limit" in slow.text
        # the worker is free again (header-only work: nothing for the 50 ms limit to stop)
        quick = httpx.post(f"{base}/info", files={"image": PHOTO}, timeout=60)
        assert quick.status_code == 200 and quick.json()["width"] == 320


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """URL transformations wait on this event (so the test holds the only worker with one)."""
    release = threading.Event()
    real = pipeline.transform

    def gated(data: bytes, options: Any, **kwargs: Any) -> Result:
        assert release.wait(timeout=30), "the test never released the worker"
        return real(data, options, **kwargs)

    monkeypatch.setattr("enlarger.server.outputs.transform", gated)
    yield release
    release.set()


def test_post_transform_goes_through_admission_control(tmp_path: Path, held: threading.Event) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "photo.png").write_bytes(PHOTO)
    main_port, binding_port = free_port(), free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        origin=str(origin),
        port=main_port,
        binding_listen=f"127.0.0.1:{binding_port}",
        concurrency=1,
        queue_size=0,
    )
    servers = serve_servers(create_main(settings), settings)

    async def both() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    thread = threading.Thread(target=asyncio.run, args=(both(),), daemon=True)
    thread.start()
    main, bound = f"http://127.0.0.1:{main_port}", f"http://127.0.0.1:{binding_port}"
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        deadline = time.monotonic() + 10
        while not all(server.started for server in servers) and time.monotonic() < deadline:
            time.sleep(0.02)
        holding = pool.submit(httpx.get, f"{main}/cdn-cgi/image/width=50,format=png/photo.png", timeout=60)
        wait_for(lambda: "enlarger_transforms_in_flight 1.0" in httpx.get(f"{main}/metrics").text)
        refused = _post(bound, [("image", PHOTO), ("transforms", "[]"), ("output_format", "image/png")])
        assert refused.status_code == 503  # the one worker is taken and there is no queue
        held.set()
        assert holding.result(timeout=60).status_code == 200
        admitted = _post(bound, [("image", PHOTO), ("transforms", "[]"), ("output_format", "image/png")])
        assert admitted.status_code == 200 and decode(admitted.content).width == 320
    finally:
        held.set()
        pool.shutdown(wait=False)
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)
