"""A corpus of bad inputs through the HTTP server: a 4xx with a message (or a safe image), never a 5xx."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from enlarger.formats import trailer_offset
from enlarger.storage.ownership import MARKER_KEY
from tests.imaging import animation, coloured_frames, decode, gradient, save
from tests.server.conftest import Start, open_tenant
from tests.test_codecs import _BOMBS, _png_chunk


def _truncations(name: str, data: bytes, count: int = 8) -> Iterator[tuple[str, bytes]]:
    for i in range(count):
        cut = max(1, len(data) * i // count)
        yield f"{name}-cut-{cut}", data[:cut]


def _with_icc(jpeg: bytes, profile: bytes) -> bytes:
    payload = b"ICC_PROFILE\0\x01\x01" + profile
    return jpeg[:2] + b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _png_with(chunk_type: bytes, payload: bytes) -> bytes:
    png = save(gradient(120, 90), "png")
    return png[:33] + _png_chunk(chunk_type, payload) + png[33:]


def bad_inputs() -> dict[str, bytes]:
    """Inputs that must be refused with a 4xx and a message."""
    jpeg = save(gradient(120, 90), "jpeg")
    png = save(gradient(120, 90), "png")
    gif = animation(coloured_frames(30, 20, [(255, 0, 0), (0, 0, 255)]), "gif")
    webp = save(gradient(120, 90), "webp")
    items = {
        "empty": b"",
        "one-byte": b"\xff",
        "html": b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        "html-then-gif": b"<html><body>hi</body></html>" + gif,
        "zip": b"PK\x03\x04" + bytes(100),
        "pdf": b"%PDF-1.4\n" + bytes(100),
        "png-with-jpeg-magic": b"\xff\xd8\xff" + png[3:],
        "jpeg-with-png-magic": b"\x89PNG\r\n\x1a\n" + jpeg[8:],
        "gif-magic-only": b"GIF89a" + bytes(7),
        "riff-not-webp": b"RIFF\x10\0\0\0WAVEfmt " + bytes(16),
        "svg-entity-bomb": b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
        "svg-not-xml": b"<svg <<<>>>",
        "png-zero-size": save(gradient(1, 1), "png")[:16] + struct.pack(">II", 0, 0) + save(gradient(1, 1), "png")[24:],
    }
    for name, data in (("jpeg", jpeg), ("png", png), ("gif", gif), ("webp", webp)):
        items.update(_truncations(name, data))
    items.update({f"bomb-{name}": make() for name, make in _BOMBS.items()})
    return items


def survivable_inputs() -> dict[str, bytes]:
    """Inputs a lenient reader may turn into an image: then it must be a clean one (no trailer)."""
    jpeg = save(gradient(120, 90), "jpeg")
    gif = animation(coloured_frames(30, 20, [(255, 0, 0), (0, 0, 255)]), "gif")
    text = b"Comment\0" + b"x" * 3_000_000
    return {
        "gif-then-html": gif + b"<html><script>alert(document.cookie)</script></html>",
        "jpeg-then-zip": jpeg + b"PK\x03\x04" + bytes(200) + b"PK\x05\x06" + bytes(18),
        "png-huge-text-chunk": _png_with(b"tEXt", text),
        "png-compressed-text-bomb": _png_with(b"zTXt", b"Comment\0\0" + zlib.compress(bytes(20_000_000))),
        "png-malformed-iccp": _png_with(b"iCCP", b"icc\0\0" + zlib.compress(b"not a profile" * 10)),
        "jpeg-malformed-icc": _with_icc(jpeg, b"\0\0\x02\x00" + b"junk" * 128),
        "jpeg-icc-declaring-2gb": _with_icc(jpeg, struct.pack(">I", 0x7FFFFFFF) + b"garbage" * 10),
        "jpeg-many-app-segments": jpeg[:2] + (b"\xff\xe1\xff\xfe" + b"\0" * 65532) * 60 + jpeg[2:],
    }


def _memory_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, f"/proc/self/status has no {field}"
    return int(match.group(1))


def _reset_peak_memory() -> int:
    """Reset this process's peak RSS to its current RSS and return that, in KiB.

    ``ru_maxrss`` never goes down, so an earlier test in the same worker that peaked higher would make
    a growth check on it vacuous; Linux lets a process reset its own high-water mark (clear_refs 5).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        pytest.skip(f"cannot reset the peak RSS here: {exc}")
    return _memory_kib("VmRSS")


@pytest.fixture
def corpus_client(start: Start, origin_dir: Path) -> httpx.Client:
    bad = origin_dir / "bad"
    bad.mkdir()
    for name, data in {**bad_inputs(), **survivable_inputs()}.items():
        (bad / name).write_bytes(data)
    return start()


def test_every_bad_input_gets_a_4xx_with_a_message_and_the_server_stays_up(corpus_client: httpx.Client) -> None:
    baseline_kib = _reset_peak_memory()
    failures = []
    inputs = bad_inputs()
    # over the animation pixel limit: delivered untransformed, as Cloudflare documents
    passed = corpus_client.get("/cdn-cgi/image/width=50/bad/bomb-gif-3000-frames")
    assert (passed.status_code, passed.content) == (200, inputs.pop("bomb-gif-3000-frames"))
    for name in inputs:
        response = corpus_client.get(f"/cdn-cgi/image/width=50/bad/{name}")
        message = response.text.strip()
        if not (400 <= response.status_code < 500 and len(message) > 10 and response.headers.get("cf-resized")):
            failures.append((name, response.status_code, message[:120]))
    assert not failures
    for name in survivable_inputs():
        response = corpus_client.get(f"/cdn-cgi/image/width=50/bad/{name}")
        assert response.status_code < 500, (name, response.text)
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("image/")
            assert response.headers["x-content-type-options"] == "nosniff"
            assert trailer_offset(response.content) is None, name
            assert b"<html" not in response.content and b"PK\x03\x04" not in response.content
            assert decode(response.content).width == 50
        else:
            assert 400 <= response.status_code < 500 and response.text.strip(), name
    good = corpus_client.get("/cdn-cgi/image/width=50/photo.jpg")
    assert good.status_code == 200 and decode(good.content).width == 50
    grown_mib = (_memory_kib("VmHWM") - baseline_kib) / 1024
    assert grown_mib < 400, f"serving the corpus grew the peak memory by {grown_mib:.0f} MiB"


def test_svg_responses_carry_a_restrictive_policy(start: Start, origin_dir: Path) -> None:
    (origin_dir / "logo.svg").write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10" onload="alert(1)">'
        b'<script>alert(2)</script><rect width="20" height="10" fill="red"/></svg>'
    )
    client = start()
    for _ in range(2):  # a miss, then a cache hit: same headers
        response = client.get("/cdn-cgi/image/width=400/logo.svg")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "sandbox" in policy and "script" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert b"script" not in response.content and b"onload" not in response.content
    raster = client.get("/cdn-cgi/image/width=400,format=png/logo.svg")
    assert raster.status_code == 200 and raster.headers["content-type"] == "image/png"
    assert "content-security-policy" not in raster.headers
    image = decode(raster.content)
    assert (image.width, image.height) == (400, 200)


def test_bad_uploads_are_refused_and_stored_images_stay_intact(start: Start, tmp_path: Path) -> None:
    tenant = open_tenant(start, tmp_path / "data")
    good = save(gradient(320, 240), "jpeg")
    api, auth = f"{tenant.api}/v1", tenant.auth()
    assert tenant.http.post(api, headers=auth, data={"id": "keep"}, files={"file": ("k.jpg", good)}).status_code == 200
    blobs_before = sorted(
        p.name for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY
    )
    for name, data in bad_inputs().items():
        response = tenant.http.post(api, headers=auth, files={"file": (name, data)})
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        body = response.json()
        assert body["success"] is False and body["errors"][0]["message"], name
    assert tenant.http.get(f"{api}/keep/blob", headers=auth).content == good
    assert tenant.http.get(f"{tenant.api}/v1/stats", headers=auth).json()["result"]["count"]["current"] == 1
    assert (
        sorted(p.name for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY)
        == blobs_before
    )
    assert tenant.http.get(f"/{tenant.account.hash}/keep/public").status_code == 200
