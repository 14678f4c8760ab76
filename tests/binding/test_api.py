"""The binding's Python API end to end: decoded pixels for chains, draws, text and outputs; error codes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pyvips

from enlarger.binding import Images, ImagesError, Rendered
from enlarger.pipeline import image_placeholders
from enlarger.security.fetch import Fetcher
from enlarger.settings import Settings
from tests.binding.aio import run
from tests.imaging import animation, coloured_frames, decode, near, pixel, quadrants, save, solid
from tests.live import Origin, serve

BLUE_200x100 = save(solid(200, 100, (0, 0, 255)), "png")
RED_20x10 = save(solid(20, 10, (255, 0, 0)), "png")


@pytest.fixture
def images(tmp_path: Path) -> Images:
    return Images(Settings(data_dir=tmp_path))


def out(rendered: Rendered) -> pyvips.Image:
    return decode(rendered.data)


def test_info_reports_format_size_and_dimensions(images: Images, photo_jpeg: bytes) -> None:
    described = run(images.info(photo_jpeg))
    assert {key: described.pop(key) for key in ("format", "fileSize", "width", "height")} == {
        "format": "image/jpeg",
        "fileSize": len(photo_jpeg),
        "width": 320,
        "height": 240,
    }
    assert sorted(described) == ["blurhash", "dominant_color", "thumbhash"]  # the placeholders, nothing else


def test_info_placeholders_are_those_of_the_image(tmp_path: Path) -> None:
    """The issue asks for placeholders in info() too: the same values as format=json's for the whole image."""
    described = run(Images(Settings(data_dir=tmp_path)).info(BLUE_200x100))
    assert described["dominant_color"] == "#0000ff"
    assert described["thumbhash"] == image_placeholders(BLUE_200x100).thumbhash
    quiet = run(Images(Settings(data_dir=tmp_path, json_placeholders=False)).info(BLUE_200x100))
    assert quiet == {"format": "image/png", "fileSize": len(BLUE_200x100), "width": 200, "height": 100}


def test_info_of_svg_is_its_format_only(images: Images) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    assert run(images.info(svg)) == {"format": "image/svg+xml"}


def test_info_of_text_is_9412(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        run(images.info(b"<html>login</html>"))
    assert caught.value.code == 9412
    assert str(caught.value).startswith("IMAGES_INFO_ERROR 9412: ")


def test_transforms_apply_in_the_callers_order(images: Images, quad_png: bytes) -> None:
    # crop the red quadrant first (trim), then rotate: the engine's fixed order would trim the rotated frame
    trimmed_then_rotated = run(
        images.input(quad_png).transform(trim={"top": 0, "left": 0, "width": 100, "height": 50}).transform(rotate=90)
        .output(format="image/png")
    )  # fmt: skip
    image = out(trimmed_then_rotated)
    assert (image.width, image.height) == (50, 100)
    assert near(pixel(image, 25, 50), (255, 0, 0))


def test_chained_resizes_compound(images: Images, quad_png: bytes) -> None:
    # a second transform applies to the first one's output, not to the original
    result = run(images.input(quad_png).transform(width=100).transform(width=50, fit="contain").output("image/png"))
    assert (result.width, result.height) == (50, 25)


def test_draw_positions_opacity_and_keeps_base_size(images: Images) -> None:
    result = run(
        images.input(BLUE_200x100).draw(RED_20x10, {"bottom": 5, "right": 10, "opacity": 0.5}).output("image/png")
    )
    image = out(result)
    assert (image.width, image.height) == (200, 100)
    # the overlay covers x 170–189, y 85–94: half red over blue
    assert near(pixel(image, 175, 90), (128, 0, 127), 3)
    assert near(pixel(image, 165, 90), (0, 0, 255), 1) and near(pixel(image, 175, 80), (0, 0, 255), 1)


def test_draw_without_position_is_centred(images: Images) -> None:
    image = out(run(images.input(BLUE_200x100).draw(RED_20x10).output("image/png")))
    assert near(pixel(image, 90, 45), (255, 0, 0), 1) and near(pixel(image, 109, 54), (255, 0, 0), 1)
    assert near(pixel(image, 89, 45), (0, 0, 255), 1) and near(pixel(image, 110, 45), (0, 0, 255), 1)


def test_repeat_tiles_the_overlay_along_one_axis(images: Images) -> None:
    checker = save(solid(10, 10, (255, 0, 0, 0)).draw_rect([255, 0, 0, 255], 0, 0, 5, 10, fill=True), "png")
    image = out(run(images.input(BLUE_200x100).draw(checker, top=0, left=0, repeat="x").output("image/png")))
    for x in (0, 10, 100, 190):
        assert near(pixel(image, x + 1, 5), (255, 0, 0), 1) and near(pixel(image, x + 7, 5), (0, 0, 255), 1)
    assert near(pixel(image, 1, 20), (0, 0, 255), 1)  # not repeated down


def test_overlay_size_as_a_fraction_of_the_base(images: Images) -> None:
    # width 0.25 of a base resized to 100 px wide → a 25 px overlay; fit=contain enlarges the 20 px one
    image = out(
        run(
            images.input(BLUE_200x100).transform(width=100)
            .draw(RED_20x10, top=0, left=0, width=0.25, fit="contain").output("image/png")
        )
    )  # fmt: skip
    assert (image.width, image.height) == (100, 50)
    assert near(pixel(image, 24, 5), (255, 0, 0), 2) and near(pixel(image, 26, 5), (0, 0, 255), 2)


def test_nested_transformer_is_drawn_with_its_own_chain(images: Images, quad_png: bytes) -> None:
    # the overlay: quadrants rotated 180° (white now top-left), then shrunk to 40×20
    overlay = images.input(quad_png).transform(rotate=180).transform(width=40)
    image = out(run(images.input(BLUE_200x100).draw(overlay, top=0, left=0).output("image/png")))
    assert near(pixel(image, 5, 5), (255, 255, 255), 3) and near(pixel(image, 35, 15), (255, 0, 0), 3)
    assert near(pixel(image, 45, 5), (0, 0, 255), 1)


def test_overlay_alpha_keeps_the_base_where_transparent(images: Images) -> None:
    ring = solid(20, 20, (0, 255, 0, 255)).draw_rect([0, 0, 0, 0], 5, 5, 10, 10, fill=True)
    image = out(run(images.input(BLUE_200x100).draw(save(ring, "png"), top=0, left=0).output("image/png")))
    assert near(pixel(image, 2, 2), (0, 255, 0), 1) and near(pixel(image, 10, 10), (0, 0, 255), 1)


def test_transparent_base_keeps_alpha_in_png_and_gets_a_background_in_jpeg(images: Images) -> None:
    clear = save(solid(50, 50, (0, 0, 0, 0)), "png")
    png = out(run(images.input(clear).draw(RED_20x10, top=0, left=0).output("image/png")))
    assert png.bands == 4 and pixel(png, 40, 40)[3] == 0 and near(pixel(png, 5, 5), (255, 0, 0, 255), 1)
    jpeg = out(run(images.input(clear).draw(RED_20x10, top=0, left=0).output("image/jpeg", background="#00ff00")))
    assert near(pixel(jpeg, 40, 40), (0, 255, 0)) and near(pixel(jpeg, 5, 5), (255, 0, 0))


def test_text_overlay_is_drawn_in_its_colour(images: Images) -> None:
    label = images.text("IIIIIIII", size=40, color="#ff0000")
    image = out(run(images.input(BLUE_200x100).draw(label, top=0, left=0).output("image/png")))
    red = (image.extract_band(0) > 200) & (image.extract_band(2) < 60)
    assert red.avg() > 0  # some pixels are the text's red
    assert near(pixel(image, 199, 99), (0, 0, 255), 1)  # far from the text, the base


def test_text_wraps_at_its_width(images: Images) -> None:
    one_line = run(images.text("word " * 6, size=20).output("image/png"))
    wrapped = run(images.text("word " * 6, size=20, width=60).output("image/png"))
    assert wrapped.width <= 60 < one_line.width and wrapped.height > 2 * one_line.height


def test_text_as_canvas_with_a_transparent_background(images: Images) -> None:
    image = out(run(images.text("Hello", size=30, color="white").output("image/png")))
    assert image.bands == 4 and image.extract_band(3).min() == 0 and image.extract_band(3).max() == 255


def test_animated_base_keeps_frames_with_an_overlay(images: Images) -> None:
    gif = animation(coloured_frames(40, 20, [(0, 0, 255), (0, 255, 0)]), "gif")
    result = run(images.input(gif).transform(width=40).draw(RED_20x10, top=0, left=0).output("image/gif"))
    assert result.frames == 2
    frames = out(result)
    assert near(pixel(frames, 5, 5), (255, 0, 0)) and near(pixel(frames, 5, 25), (255, 0, 0))
    assert near(pixel(frames, 30, 15), (0, 0, 255)) and near(pixel(frames, 30, 35), (0, 255, 0))


def test_chained_animation_keeps_frames_and_anim_false_keeps_one(images: Images) -> None:
    gif = animation(coloured_frames(40, 20, [(0, 0, 255), (0, 255, 0)]), "gif")
    kept = run(images.input(gif).transform(rotate=90).transform(width=10).output("image/webp"))
    assert (kept.frames, kept.width, kept.height) == (2, 10, 20)
    first = run(images.input(gif).transform(rotate=90).transform(width=10).output("image/webp", anim=False))
    assert first.frames == 1


@pytest.mark.parametrize(
    ("fmt", "magic"),
    [("image/jpeg", b"\xff\xd8"), ("image/png", b"\x89PNG"), ("image/gif", b"GIF8"), ("image/webp", b"RIFF")],
)
def test_each_output_format(images: Images, quad_png: bytes, fmt: str, magic: bytes) -> None:
    result = run(images.input(quad_png).transform(width=100).output(fmt))
    assert result.content_type == fmt and result.data.startswith(magic)
    assert near(pixel(out(result), 10, 10), (255, 0, 0), 16)


def test_avif_output(images: Images, quad_png: bytes) -> None:
    result = run(images.input(quad_png).output("image/avif", quality=90))
    assert result.content_type == "image/avif" and b"ftypavif" in result.data[:32]
    assert near(pixel(out(result), 10, 10), (255, 0, 0), 20)


def test_raw_rgb_and_rgba(images: Images) -> None:
    two = save(quadrants(4, 2, alpha=True), "png")
    rgb = run(images.input(two).output("rgb"))
    assert rgb.content_type == "image/rgb" and len(rgb.data) == 4 * 2 * 3 and rgb.data[:3] == b"\xff\x00\x00"
    rgba = run(images.input(two).output("rgba"))
    assert len(rgba.data) == 4 * 2 * 4 and rgba.data[:4] == b"\xff\x00\x00\xff"


def test_a_consumed_transformer_is_9525(images: Images) -> None:
    overlay = images.input(RED_20x10)
    images.input(BLUE_200x100).draw(overlay)
    with pytest.raises(ImagesError) as caught:
        images.input(BLUE_200x100).draw(overlay)
    assert caught.value.code == 9525
    base = images.input(BLUE_200x100)
    run(base.output("image/png"))
    with pytest.raises(ImagesError, match="9525"):
        run(base.output("image/png"))


@pytest.mark.parametrize("fmt", [None, "", "image/tiff"])
def test_output_needs_a_known_format(images: Images, fmt: str | None) -> None:
    with pytest.raises(ImagesError) as caught:
        run(images.input(BLUE_200x100).output(fmt))
    assert caught.value.code == 9401 and "format" in caught.value.message


def test_left_and_right_both_given_is_an_error(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        images.input(BLUE_200x100).draw(RED_20x10, left=1, right=1)
    assert caught.value.code == 9401 and "left or right" in caught.value.message


def test_bad_transform_option_names_it(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        images.input(BLUE_200x100).transform(widht=10)
    assert caught.value.code == 9401 and "widht" in caught.value.message


def test_not_an_image_on_output_is_9412(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        run(images.input(b"plain text, no image").transform(width=10).output("image/png"))
    assert caught.value.code == 9412 and caught.value.status == 415


def test_url_overlay_outside_allowed_hosts_is_refused(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        run(images.input(BLUE_200x100).draw("http://127.0.0.1:9/x.png").output("image/png"))
    assert caught.value.code == 9401 and caught.value.status == 403  # Cloudflare: not in allowed origins


@pytest.fixture
def overlay_origin() -> Iterator[str]:
    origin = Origin()
    origin.files["/red.png"] = RED_20x10
    with serve(origin.app(), host="127.0.0.2") as base:
        yield base


def _outside(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, allowed_hosts=("127.0.0.2",), fetch_allowed_networks=("127.0.0.2/32",))


def test_a_url_overlay_on_an_allowed_host_is_fetched_and_drawn(overlay_origin: str, tmp_path: Path) -> None:
    images = Images(_outside(tmp_path))  # no fetcher given: the binding makes its own (and closes it)

    async def drawn() -> tuple[Rendered, int, int]:
        try:
            made = await images.input(BLUE_200x100).draw(f"{overlay_origin}/red.png", top=0, left=0).output("image/png")
            kept = _connections_to(overlay_origin)
        finally:
            await images.aclose()
        return made, kept, _connections_to(overlay_origin)

    made, kept, left = run(drawn())
    image = out(made)
    assert near(pixel(image, 5, 5), (255, 0, 0)) and near(pixel(image, 100, 50), (0, 0, 255))
    assert (kept, left) == (1, 0)  # its own fetcher's kept-alive connection is closed with it (not left to GC)


def _connections_to(base: str) -> int:
    """TCP connections to ``base`` that this side has not closed: ESTABLISHED, or CLOSE_WAIT when the
    server's keep-alive ended first (Linux's /proc/net/tcp: little-endian hex address:port, hex state)."""
    where = urlsplit(base)
    assert where.hostname is not None and where.port is not None
    remote = f"{ipaddress.ip_address(where.hostname).packed[::-1].hex().upper()}:{where.port:04X}"
    rows = [row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[2] == remote and row[3] in ("01", "08"))


def test_a_fetcher_given_to_the_binding_stays_open_after_it_closes(overlay_origin: str, tmp_path: Path) -> None:
    settings = _outside(tmp_path)

    async def scenario() -> bytes:
        fetcher = Fetcher.from_settings(settings)
        try:
            await Images(settings, fetcher=fetcher).aclose()  # the caller's fetcher: not the binding's to close
            await Images(settings).aclose()  # a binding that never fetched has nothing to close
            return (await fetcher.fetch(f"{overlay_origin}/red.png")).data
        finally:
            await fetcher.aclose()

    assert run(scenario()) == RED_20x10
