"""Fonts for ``text()`` by URL: TrueType/OpenType as they are, WOFF and WOFF2 unpacked first
(workers-types ``TextOptions``: ``font: {url}`` names a TTF, OTF, WOFF or WOFF2 file)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from enlarger.binding import Images
from enlarger.binding.fonts import DEFAULT_FONT_FILE, font_family, sfnt, store_font
from enlarger.errors import UnsupportedFormatError
from enlarger.settings import Settings
from tests.binding.aio import run
from tests.imaging import decode
from tests.live import Origin, serve

OUTSIDE_NET = "127.0.0.2/32"


def _web_font(flavor: str) -> bytes:
    font = TTFont(DEFAULT_FONT_FILE)
    font.flavor = flavor
    packed = io.BytesIO()
    font.save(packed)
    return packed.getvalue()


@pytest.mark.parametrize(("flavor", "magic"), [("woff", b"wOFF"), ("woff2", b"wOF2")])
def test_web_fonts_unpack_to_an_sfnt_with_the_family_name(flavor: str, magic: bytes, tmp_path: Path) -> None:
    data = _web_font(flavor)
    assert data[:4] == magic
    with pytest.raises(UnsupportedFormatError):
        font_family(data)  # Pango could not read it as it is
    unpacked = sfnt(data)
    assert unpacked[:4] == b"\x00\x01\x00\x00" and font_family(unpacked) == "DejaVu Sans"
    stored = store_font(tmp_path, f"https://fonts.example/a.{flavor}", data)
    assert stored.family == "DejaVu Sans" and stored.path.read_bytes()[:4] == b"\x00\x01\x00\x00"


def test_a_damaged_web_font_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedFormatError, match="web font"):
        sfnt(_web_font("woff2")[:200])


@pytest.fixture
def fonts() -> Iterator[str]:
    origin = Origin()
    origin.files["/ttf"] = DEFAULT_FONT_FILE.read_bytes()
    origin.files["/woff"] = _web_font("woff")
    origin.files["/woff2"] = _web_font("woff2")
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


@pytest.mark.parametrize("kind", ["woff", "woff2"])
def test_text_in_a_web_font_draws_the_same_glyphs_as_the_font_itself(fonts: str, kind: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allowed_hosts=("127.0.0.2",), fetch_allowed_networks=(OUTSIDE_NET,))
    images = Images(settings)

    async def rendered(url: str) -> bytes:
        label = images.text("Web fonts", {"font": {"url": url}, "size": 28, "color": "#000000"})
        return bytes(decode((await label.output("image/png")).data).write_to_memory())

    async def both() -> tuple[bytes, bytes]:
        try:
            return await rendered(f"{fonts}/ttf"), await rendered(f"{fonts}/{kind}")
        finally:
            await images.aclose()

    reference, web = run(both())
    assert web == reference
