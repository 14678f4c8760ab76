"""``POST /transform`` and ``/info`` over real HTTP, with forms spelled as workerd's images binding writes them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.binding import Images
from enlarger.server import binding
from enlarger.server.binding import create_app
from enlarger.server.limits import LimitedHttpTools
from enlarger.server.serve import LOOP, servers
from enlarger.settings import Settings, SettingsError
from tests.imaging import decode, near, pixel, quadrants, save, solid
from tests.live import binding_form, free_port, serve

BLUE = save(solid(200, 100, (0, 0, 255)), "png")
RED = save(solid(20, 10, (255, 0, 0)), "png")
QUADS = save(quadrants(200, 100), "png")
Part = tuple[str, bytes | str]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("binding"), max_input_bytes=200_000)
    with serve(create_app(Images(settings))) as base:
        yield base


def _post(url: str, path: str, parts: list[Part], *, chunked: bool = False, follow: bool = False) -> httpx.Response:
    body, content_type = binding_form(parts)
    if chunked:  # as workerd streams it: no Content-Length, Transfer-Encoding: chunked
        pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
        return httpx.post(url + path, content=iter(pieces), headers={"content-type": content_type}, timeout=30)
    headers = {"content-type": content_type}
    return httpx.post(url + path, content=body, headers=headers, timeout=30, follow_redirects=follow)


def _transforms(*entries: dict[str, Any]) -> Part:
    return ("transforms", json.dumps(list(entries)))


def test_info_answers_file_size(url: str) -> None:
    response = _post(url, "/info", [("image", QUADS)], chunked=True)
    assert response.status_code == 200
    described = response.json()
    assert {key: described[key] for key in ("format", "file_size", "width", "height")} == {
        "format": "image/png",
        "file_size": len(QUADS),
        "width": 200,
        "height": 100,
    }
    assert "fileSize" not in described and described["dominant_color"].startswith("#")  # the placeholders too


def test_transform_streamed_body_with_image_and_text_overlays(url: str) -> None:
    # as workerd serialises input(BLUE).transform({width:100}).draw(input(RED), {top:0,left:0,opacity:0.5})
    #                                    .draw(text(...), {bottom:0,right:0}).output({format:"image/png"})
    text = json.dumps({"text": "IIII", "font": None, "size": 20, "color": "#00ff00"})
    parts: list[Part] = [
        ("image", BLUE),
        ("draw_image", RED),
        ("draw_text", text),
        _transforms(
            {"imageIndex": 0, "width": 100},
            {"drawImageIndex": 1, "targetImageIndex": 0, "top": 0, "left": 0, "opacity": 0.5},
            {"drawImageIndex": 2, "targetImageIndex": 0, "bottom": 0, "right": 0},
        ),
        ("output_format", "image/png"),
    ]
    response = _post(url, "/transform", parts, chunked=True)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = decode(response.content)
    assert (image.width, image.height) == (100, 50)
    assert near(pixel(image, 5, 5), (128, 0, 127), 3)  # half red over blue
    assert near(pixel(image, 30, 5), (0, 0, 255), 1)
    corner = image.crop(50, 25, 50, 25)
    assert ((corner.extract_band(1) > 160) & (corner.extract_band(2) < 100)).avg() > 0  # green glyphs


def test_nested_draw_depth_first(url: str) -> None:
    # the overlay (index 1) gets its own overlay (index 2) before it is drawn on the canvas
    parts: list[Part] = [
        ("image", BLUE),
        ("draw_image", save(solid(40, 40, (255, 255, 255)), "png")),
        ("draw_image", RED),
        _transforms(
            {"imageIndex": 1, "rotate": 90},
            {"drawImageIndex": 2, "targetImageIndex": 1, "top": 0, "left": 0},
            {"drawImageIndex": 1, "targetImageIndex": 0, "top": 10, "left": 10},
        ),
        ("output_format", "image/png"),
    ]
    image = decode(_post(url, "/transform", parts).content)
    assert near(pixel(image, 12, 12), (255, 0, 0), 1)  # red on white, at the white's corner
    assert near(pixel(image, 40, 40), (255, 255, 255), 1) and near(pixel(image, 55, 55), (0, 0, 255), 1)


def test_text_canvas_and_output_options(url: str) -> None:
    parts: list[Part] = [
        ("text_input", json.dumps({"text": "Hi", "size": 30, "color": "black"})),
        _transforms(),
        ("output_format", "image/jpeg"),
        ("output_quality", "80"),
        ("background", "#ff0000"),
        ("anim", "false"),
    ]
    response = _post(url, "/transform", parts)
    assert response.headers["content-type"] == "image/jpeg"
    image = decode(response.content)
    red = (image.extract_band(0) > 200) & (image.extract_band(1) < 60)
    assert red.avg() > 255 * 0.5  # most of it: the transparency filled with the background
    assert image.extract_band(0).min() < 60  # and the black glyphs


def _failure(response: httpx.Response) -> tuple[int, str]:
    header = response.headers["cf-images-binding"]
    assert header.startswith("err=")
    code = int(header.removeprefix("err="))
    assert response.text.startswith(f"ERROR {code}: ")
    return code, response.text


@pytest.mark.parametrize(
    ("parts", "status", "code", "words"),
    [
        ([("image", b"<html></html>"), _transforms(), ("output_format", "image/png")], 415, 9412, "not a supported"),
        ([("image", BLUE), _transforms(), ("output_format", "undefined")], 400, 9401, "output format is required"),
        ([_transforms(), ("output_format", "image/png")], 400, 9424, "no 'image'"),
        ([("image", BLUE), ("transforms", "[{"), ("output_format", "image/png")], 400, 9424, "not valid JSON"),
        (
            [("image", BLUE), ("draw_image", RED), _transforms({"drawImageIndex": 5, "targetImageIndex": 0})],
            400,
            9424,
            "drawImageIndex",
        ),
        (
            [
                ("image", BLUE),
                ("draw_image", RED),
                _transforms({"drawImageIndex": 1, "targetImageIndex": 0, "left": 1, "right": 2}),
                ("output_format", "image/png"),
            ],
            400,
            9401,
            "left or right",
        ),
        ([("image", BLUE), ("draw_image", RED), _transforms(), ("output_format", "image/png")], 400, 9424, "never"),
        (
            [("image", BLUE), _transforms({"imageIndex": 0, "blurr": 3}), ("output_format", "image/png")],
            400,
            9401,
            "blurr",
        ),
    ],
)
def test_failures_in_the_binding_form(url: str, parts: list[Part], status: int, code: int, words: str) -> None:
    response = _post(url, "/transform", parts)
    assert response.status_code == status
    assert _failure(response)[0] == code and words in response.text


def test_a_body_over_the_limit_is_9413(url: str) -> None:
    big = save(solid(600, 600, (1, 2, 3)), "png", compression=0)
    assert len(big) > 200_000
    response = _post(url, "/transform", [("image", big), ("output_format", "image/png")], chunked=True)
    assert response.status_code == 413 and _failure(response)[0] == 9413


def test_info_failure_is_in_the_binding_form(url: str) -> None:
    response = _post(url, "/info", [("image", b"hello")])
    assert response.status_code == 415 and _failure(response) == (9412, response.text)


def test_a_form_is_required(url: str) -> None:
    response = httpx.post(url + "/transform", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 400 and _failure(response)[0] == 9424


def test_not_on_the_main_listener(tmp_path: Path) -> None:
    from enlarger.server.app import create_app as create_main

    with serve(create_main(Settings(data_dir=tmp_path))) as main:
        response = _post(main, "/transform", [("image", BLUE), ("output_format", "image/png")], follow=True)
    assert response.status_code in (404, 405) and "cf-images-binding" not in response.headers


def test_binding_listen_opens_a_second_listener(tmp_path: Path) -> None:
    from enlarger.server.app import create_app as create_main

    main_port, binding_port = free_port(), free_port()
    settings = Settings(data_dir=tmp_path, port=main_port, binding_listen=f"127.0.0.1:{binding_port}")
    found = servers(create_main(settings), settings)
    assert [server.config.port for server in found] == [main_port, binding_port]
    # one uvicorn configuration for every listener (the binding's ran without uvloop before), with
    # the request limits' httptools protocol (server/limits.py)
    assert [server.config.loop for server in found] == [LOOP] * 2
    assert all(issubclass(server.config.http, LimitedHttpTools) for server in found)  # type: ignore[arg-type]

    async def both() -> None:
        await asyncio.gather(*(server.serve() for server in found))

    thread = threading.Thread(target=asyncio.run, args=(both(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not all(server.started for server in found) and time.monotonic() < deadline:
            time.sleep(0.02)
        info = _post(f"http://127.0.0.1:{binding_port}", "/info", [("image", QUADS)])
        assert info.status_code == 200 and info.json()["width"] == 200
        on_main = _post(f"http://127.0.0.1:{main_port}", "/info", [("image", QUADS)], follow=True)
        assert on_main.status_code in (404, 405)
        assert httpx.get(f"http://127.0.0.1:{main_port}/healthz").status_code == 200
    finally:
        for server in found:
            server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("text", ["8081", "localhost", "host:port", ":8081", "127.0.0.1:70000"])
def test_binding_listen_must_be_host_and_port(text: str) -> None:
    with pytest.raises(SettingsError, match="binding_listen"):
        binding.listen_address(text)


def test_binding_listen_takes_ipv6() -> None:
    assert binding.listen_address("[::1]:8081") == ("::1", 8081)


def test_a_bug_is_500_with_code_9523_and_the_server_keeps_serving(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(binding, "read_info", broken)
    response = _post(url, "/info", [("image", QUADS)])
    assert response.status_code == 500
    assert response.headers[binding.HEADER] == "err=9523"
    assert response.text == "ERROR 9523: an internal error stopped this request"
    monkeypatch.undo()
    assert _post(url, "/info", [("image", QUADS)]).status_code == 200


def test_a_damaged_input_with_a_draw_is_the_binding_415(url: str) -> None:
    # the binding no longer decides the base before the engine (to size the overlay): the damage
    # is classified in the engine's one decide, with or without a draw (it was a 500/9523)
    whole = save(quadrants(400, 300), "jpeg", Q=90)
    cut = whole[: len(whole) // 2]
    trim = {"imageIndex": 0, "trim": {"border": True}, "width": 200}
    drawn = {"drawImageIndex": 1, "targetImageIndex": 0, "width": 0.2, "top": 0}
    for transforms in (_transforms(trim), _transforms(trim, drawn)):
        parts: list[Part] = [("image", cut), ("draw_image", RED), transforms, ("output_format", "image/png")]
        if "drawImageIndex" not in transforms[1]:
            parts.remove(("draw_image", RED))
        response = _post(url, "/transform", parts)
        assert response.status_code == 415, response.text
        assert _failure(response)[0] == 9520 and "damaged or truncated" in response.text


def _alpha_png() -> bytes:
    """20×10, left half opaque red, right half fully transparent."""
    red = solid(10, 10, (255, 0, 0)).bandjoin(255)
    clear = solid(10, 10, (0, 0, 0)).bandjoin(0)
    return save(red.join(clear, "horizontal").copy(interpretation="srgb"), "png")


@pytest.mark.parametrize("output_format", ["rgb", "rgba", "image/jpeg"])
def test_cloudflare_images_library_shape(url: str, output_format: str) -> None:
    """``@cloudflare/images`` 1.0.2: ``transforms`` without ``imageIndex``, the image after them, and
    it reads the output's format and size from ``cf-images-output-*`` headers (raw pixels carry none)."""
    parts: list[Part] = [
        _transforms({"width": 10, "height": 5}),
        ("output_format", output_format),
        ("image", _alpha_png()),
    ]
    response = _post(url, "/transform", parts)
    assert response.status_code == 200, response.text
    headers = response.headers
    assert (headers["cf-images-output-width"], headers["cf-images-output-height"]) == ("10", "5")
    assert headers["cf-images-output-format"] == output_format
    assert headers["cf-images-output-flattened"] == ("1" if output_format == "rgb" else "0")
    if output_format == "rgb":
        pixels = response.content
        assert len(pixels) == 10 * 5 * 3
        assert tuple(pixels[:3]) == (255, 0, 0)  # the opaque half
        assert tuple(pixels[9 * 3 : 9 * 3 + 3]) == (255, 255, 255)  # transparency laid on white
    elif output_format == "rgba":
        assert len(response.content) == 10 * 5 * 4
        assert response.content[9 * 4 + 3] == 0
    else:
        assert (decode(response.content).width, decode(response.content).height) == (10, 5)


def test_a_bad_image_index_names_it_in_json(url: str) -> None:
    parts: list[Part] = [
        ("image", BLUE),
        _transforms({"imageIndex": None, "width": 10}),
        ("output_format", "image/png"),
    ]
    response = _post(url, "/transform", parts)
    assert response.status_code == 400 and "got null" in response.text and "None" not in response.text


@pytest.mark.parametrize("path", ["/transform", "/info"])
def test_an_input_over_20_mb_is_refused_by_default(tmp_path: Path, path: str) -> None:
    """Cloudflare's limits page: the binding's ``.input()`` accepts up to 20 MB (the server's
    general source limit is 100 MB)."""
    settings = Settings(data_dir=tmp_path)
    assert settings.binding_max_input_bytes < 21 * 1024 * 1024 < settings.max_input_bytes
    over = save(solid(8, 8, (1, 2, 3)), "png") + bytes(21 * 1024 * 1024)  # a PNG with a long tail
    with serve(create_app(Images(settings))) as base:
        response = _post(base, path, [("image", over), ("output_format", "image/png")])
        assert response.status_code == 413 and _failure(response)[0] == 9413
        assert "20,971,520" in response.text
        fits = _post(base, path, [("image", save(solid(8, 8, (1, 2, 3)), "png")), ("output_format", "image/png")])
        assert fits.status_code == 200
