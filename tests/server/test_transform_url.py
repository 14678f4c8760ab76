"""/cdn-cgi/image over real HTTP: negotiation, caching headers, the disk cache, errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.sources import FILE_IDENTITY_SECONDS
from tests.imaging import decode, gradient, near, pixel, save
from tests.models.standins import never_ending
from tests.server.conftest import Start

TRANSFORM = "enlarger.server.outputs.transform"
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_17 = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
    "image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
SAFARI_OLD = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
FIREFOX = "image/avif,image/webp,*/*"
NO_AVIF = "image/webp,*/*"
CURL = "*/*"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (CHROME, "image/avif"),
        (SAFARI_17, "image/avif"),
        (FIREFOX, "image/avif"),
        (NO_AVIF, "image/webp"),
        (SAFARI_OLD, "image/jpeg"),
        (CURL, "image/jpeg"),
        ("image/avif;q=0,image/webp;q=0,*/*", "image/jpeg"),
    ],
)
def test_format_auto_follows_accept(client: httpx.Client, accept: str, media_type: str) -> None:
    response = client.get("/cdn-cgi/image/width=200,format=auto/photo.jpg", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert "Accept" in response.headers["vary"]
    image = decode(response.content)
    assert (image.width, image.height) == (200, 150)


def test_alpha_sources_fall_back_to_png_and_explicit_formats_do_not_vary(client: httpx.Client) -> None:
    legacy = client.get("/cdn-cgi/image/format=auto/alpha.png", headers={"Accept": SAFARI_OLD})
    assert legacy.headers["content-type"] == "image/png"
    assert decode(legacy.content).bands == 4
    fixed = client.get("/cdn-cgi/image/format=webp/alpha.png", headers={"Accept": CHROME})
    assert fixed.headers["content-type"] == "image/webp"
    assert "vary" not in fixed.headers


def test_caching_headers_etag_and_304(client: httpx.Client) -> None:
    url = "/cdn-cgi/image/w=100,f=webp/photo.jpg"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "public, max-age=172800"
    assert int(first.headers["content-length"]) == len(first.content)
    assert first.headers["accept-ch"].startswith("DPR")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # another spelling of the same options is the same resource
    assert client.get("/cdn-cgi/image/format=webp,width=100/photo.jpg").headers["etag"] == etag
    # other options or another source are other resources
    assert client.get("/cdn-cgi/image/w=101,f=webp/photo.jpg").headers["etag"] != etag


def test_etag_changes_when_the_source_changes(client: httpx.Client, origin_dir: Path) -> None:
    url = "/cdn-cgi/image/w=50,f=png/nested/quad.png"
    before = client.get(url)
    (origin_dir / "nested" / "quad.png").write_bytes((origin_dir / "alpha.png").read_bytes())
    time.sleep(FILE_IDENTITY_SECONDS)  # the file's identity is remembered that long
    after = client.get(url)
    assert after.headers["etag"] != before.headers["etag"]
    assert after.headers["x-enlarger-cache"] == "MISS"
    assert decode(after.content).bands == 4


def test_head_has_the_headers_and_no_body(client: httpx.Client) -> None:
    got = client.get("/cdn-cgi/image/width=80/photo.jpg")
    head = client.head("/cdn-cgi/image/width=80/photo.jpg")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-type"] == "image/jpeg"


def test_cache_hits_are_served_without_decoding(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "/cdn-cgi/image/width=120,format=png/photo.jpg"
    first = client.get(url)
    assert first.headers["x-enlarger-cache"] == "MISS"

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cache hit must not transform")

    monkeypatch.setattr(TRANSFORM, no_decoding)
    monkeypatch.setattr("enlarger.codecs.load", no_decoding)
    hit = client.get(url)
    assert hit.headers["x-enlarger-cache"] == "HIT"
    assert hit.content == first.content


def test_the_cache_survives_a_restart(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "/cdn-cgi/image/width=90,format=webp/photo.jpg"
    first = start()
    body = first.get(url).content
    first.close()
    monkeypatch.setattr(TRANSFORM, lambda *a, **k: pytest.fail("restarted cache missed"))
    second = start()
    hit = second.get(url)
    assert hit.headers["x-enlarger-cache"] == "HIT"
    assert hit.content == body


def test_client_hints(client: httpx.Client) -> None:
    auto = client.get("/cdn-cgi/image/width=auto,format=png/photo.jpg", headers={"Sec-CH-Width": "160"})
    assert decode(auto.content).width == 320  # the first breakpoint that covers it
    assert "Sec-CH-Width" in auto.headers["vary"]
    viewport = client.get(
        "/cdn-cgi/image/width=auto,wbreakpoints=200;400,format=png/photo.jpg",
        headers={"Viewport-Width": "100", "DPR": "2"},
    )
    assert decode(viewport.content).width == 200
    dpr = client.get("/cdn-cgi/image/width=100,format=png/photo.jpg", headers={"Sec-CH-DPR": "3"})
    assert decode(dpr.content).width == 200  # DPR hints, like dpr, count up to the documented 2
    assert "Sec-CH-DPR" in dpr.headers["vary"]
    explicit = client.get("/cdn-cgi/image/width=100,dpr=1,format=png/photo.jpg", headers={"DPR": "3"})
    assert decode(explicit.content).width == 100
    assert "vary" not in explicit.headers
    plain = client.get("/cdn-cgi/image/format=png/photo.jpg", headers={"DPR": "3"})
    assert "vary" not in plain.headers


def test_save_data_uses_slow_connection_quality(client: httpx.Client) -> None:
    url = "/cdn-cgi/image/width=400,quality=95,scq=20,format=jpeg/photo.jpg"
    normal = client.get(url)
    saving = client.get(url, headers={"Save-Data": "on"})
    slow_rtt = client.get(url, headers={"RTT": "400"})
    assert len(saving.content) < len(normal.content) * 0.7
    assert slow_rtt.content == saving.content
    assert "Save-Data" in normal.headers["vary"]
    assert "Save-Data" not in client.get("/cdn-cgi/image/width=400/photo.jpg").headers.get("vary", "")


@pytest.mark.parametrize(
    ("path", "status", "code", "words"),
    [
        ("/cdn-cgi/image/width=abc/photo.jpg", 400, 9401, "width"),
        ("/cdn-cgi/image/fit=sideways/photo.jpg", 400, 9401, "cover"),
        ("/cdn-cgi/image/widht=10/photo.jpg", 400, 9401, "did you mean width"),
        ("/cdn-cgi/image/width=10/missing.jpg", 404, 9404, "missing.jpg"),
        ("/cdn-cgi/image/width=10/broken.jpg", 415, 9520, "JPEG"),
        ("/cdn-cgi/image/width=10,%20fit=cover/photo.jpg", 400, 9401, "no spaces"),
        ("/cdn-cgi/image/width=10/nested", 404, 9404, "nested"),
        ("/cdn-cgi/image/width=10/https://example.com/a.jpg", 403, 9401, "not in allowed origins list"),
        ("/cdn-cgi/image/width=10/ftp://example.com/a.jpg", 404, 9404, "ftp:"),
        ("/cdn-cgi/image/width=10/a/%2e%2e/%2e%2e/etc/passwd", 403, 9419, "invalid source"),
    ],
)
def test_errors_have_status_code_header_and_message(
    client: httpx.Client, path: str, status: int, code: int, words: str
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["cf-resized"] == f"err={code}"
    assert words in response.text
    assert response.headers["cache-control"] == "no-store"


def test_oversize_sources_are_refused(start: Start) -> None:
    small = start(max_input_bytes=1000)
    response = small.get("/cdn-cgi/image/width=10/photo.jpg")
    assert response.status_code == 413
    assert response.headers["cf-resized"] == "err=9402"


def test_a_runaway_transformation_is_stopped_and_the_server_stays_healthy(start: Start, origin_dir: Path) -> None:
    (origin_dir / "big.png").write_bytes(save(gradient(2500, 2500), "png", compression=1))
    client = start(transform_timeout=0.05)
    slow = client.get("/cdn-cgi/image/blur=250,format=png/big.png")
    assert slow.status_code == 504
    assert slow.headers["cf-resized"] == "err=9529"
    assert "longer than the limit" in slow.text
    assert client.get("/healthz").text == "ok\n"
    # the worker is free again (a header-only answer: no pixel work for the 50 ms limit to stop)
    described = client.get("/cdn-cgi/image/width=10,format=json/photo.jpg")
    assert described.status_code == 200 and described.json()["width"] == 10


def test_metrics_and_health(client: httpx.Client) -> None:
    client.get("/cdn-cgi/image/width=30/photo.jpg")
    client.get("/cdn-cgi/image/width=30/photo.jpg")
    client.get("/cdn-cgi/image/width=30/missing.jpg")
    text = client.get("/metrics").text
    assert 'enlarger_requests_total{route="transform",status="200"} 2.0' in text
    assert 'enlarger_requests_total{route="transform",status="404"} 1.0' in text
    assert "enlarger_cache_hits_total 1.0" in text
    assert "enlarger_cache_misses_total 1.0" in text
    assert "enlarger_transform_seconds_count 1.0" in text
    assert 'enlarger_request_seconds_bucket{le="+Inf",route="transform"} 3.0' in text
    assert "enlarger_queue_depth 0.0" in text
    assert "enlarger_cache_bytes " in text and "enlarger_cache_bytes 0.0" not in text
    assert "enlarger_process_rss_bytes " in text and "enlarger_models_loaded " in text  # the inference report
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").text == "ready\n"


def test_access_log_has_one_json_line_per_request(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    import json

    with caplog.at_level("INFO", logger="enlarger.access"):
        client.get("/cdn-cgi/image/width=33/photo.jpg")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "enlarger.access"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["method"], line["status"], line["cache"]) == ("GET", 200, "MISS")
    assert line["path"] == "/cdn-cgi/image/width=33/photo.jpg"
    assert line["bytes"] > 0 and line["ms"] > 0


def test_pixels_survive_the_trip(client: httpx.Client) -> None:
    response = client.get("/cdn-cgi/image/width=100,format=png/nested/quad.png")
    image = decode(response.content)
    assert near(pixel(image, 5, 5), (255, 0, 0)) and near(pixel(image, 95, 45), (255, 255, 255))


def test_unexpected_failures_are_500_and_the_server_keeps_serving(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(TRANSFORM, broken)
    response = client.get("/cdn-cgi/image/width=44/photo.jpg")
    assert response.status_code == 500
    assert response.headers["cf-resized"] == "err=9523"
    assert "internal error" in response.text
    monkeypatch.undo()
    assert client.get("/cdn-cgi/image/width=44/photo.jpg").status_code == 200


def test_transform_timeout_stops_segment_foreground_and_the_server_stays_healthy(start: Start, tmp_path: Path) -> None:
    model = never_ending(tmp_path / "spin.onnx")
    client = start(transform_timeout=0.5, segment_model=str(model), segment_model_kind="u2netp")
    stopped = client.get("/cdn-cgi/image/width=100,segment=foreground/photo.jpg")
    assert stopped.status_code == 504
    assert stopped.headers["cf-resized"] == "err=9529"
    assert "longer than the limit of 0.5 s" in stopped.text
    assert client.get("/healthz").text == "ok\n"
    described = client.get("/cdn-cgi/image/width=10,format=json/photo.jpg")
    assert described.status_code == 200 and described.json()["width"] == 10


def test_svg_sources_do_not_vary_on_accept_while_rasters_do(client: httpx.Client, origin_dir: Path) -> None:
    (origin_dir / "logo.svg").write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>'
    )
    for accept in (CHROME, SAFARI_OLD, CHROME):  # a miss per Accept class, then a hit
        svg = client.get("/cdn-cgi/image/width=40,format=auto/logo.svg", headers={"Accept": accept})
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert "Accept" not in svg.headers["vary"], svg.headers["x-enlarger-cache"]
        assert "DPR" in svg.headers["vary"]  # the other reasons to vary are kept
    revalidated = client.get(
        "/cdn-cgi/image/width=40,format=auto/logo.svg", headers={"Accept": CHROME, "If-None-Match": svg.headers["etag"]}
    )
    assert revalidated.status_code == 304 and revalidated.headers["vary"] == svg.headers["vary"]  # as its 200
    hinted = client.get("/cdn-cgi/image/width=auto,format=auto/logo.svg", headers={"Sec-CH-Width": "40"})
    assert "Sec-CH-Width" in hinted.headers["vary"] and "Accept" not in hinted.headers["vary"]
    raster = client.get("/cdn-cgi/image/width=40,format=auto/photo.jpg", headers={"Accept": CHROME})
    assert "Accept" in raster.headers["vary"]


@pytest.mark.parametrize("source", ["photo.jpg?v=2", "photo.jpg?v=2&w=9", "nested/quad.png?"])
def test_a_directory_origin_ignores_the_query_string(client: httpx.Client, source: str) -> None:
    """What Nuxt and Next write for ``src="/photo.jpg?v=2"`` (cache busting): the file is served,
    as any static file server would."""
    response = client.get(f"/cdn-cgi/image/width=64,format=png/{source}")
    assert response.status_code == 200, response.text
    assert decode(response.content).width == 64


def test_no_options_is_an_error_not_the_image(client: httpx.Client) -> None:
    response = client.get("/cdn-cgi/image//photo.jpg")
    assert response.status_code == 400
    assert response.headers["cf-resized"] == "err=9401"
    assert "at least one option" in response.text
