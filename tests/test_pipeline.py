"""The engine end to end: bytes in, decoded output pixels and dimensions checked per option."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import pyvips

from enlarger import pipeline
from enlarger.errors import (
    CorruptImageError,
    FeatureUnavailableError,
    InputTooLargeError,
    OptionError,
    ProcessingError,
    UnsupportedFormatError,
)
from enlarger.geometry import Plan, plan
from enlarger.models import faces
from enlarger.models.faces import Box
from enlarger.options import parse_options
from enlarger.pipeline import info, transform
from enlarger.settings import Settings
from tests.imaging import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    animation,
    coloured_frames,
    decode,
    gradient,
    near,
    pixel,
    quadrants,
    save,
    solid,
    with_orientation,
)


def corners(data: bytes, inset: int = 3) -> list[list[float]]:
    """Top-left, top-right, bottom-left, bottom-right pixels, a little inside the edges."""
    image = decode(data)
    w, h = image.width, image.height
    return [
        pixel(image, x, y)
        for x, y in ((inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset), (w - 1 - inset, h - 1 - inset))
    ]


def test_resize_keeps_colours_where_they_were(quad_png: bytes) -> None:
    result = transform(quad_png, "width=100")
    assert (result.format, result.width, result.height) == ("png", 100, 50)
    tl, tr, bl, br = corners(result.data)
    assert near(tl, RED) and near(tr, GREEN) and near(bl, BLUE) and near(br, WHITE)


def test_scale_down_never_enlarges(quad_png: bytes) -> None:
    result = transform(quad_png, "width=800")
    assert (result.width, result.height) == (200, 100)


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ("width=400,height=400,fit=contain", (400, 200)),
        ("width=50,height=50,fit=cover", (50, 50)),
        ("width=400,height=400,fit=crop", (200, 100)),
        ("width=100,height=100,fit=crop", (100, 100)),
        ("width=300,height=300,fit=pad", (300, 300)),
        ("width=30,height=90,fit=squeeze", (30, 90)),
        ("width=100,height=100,fit=aspect-crop", (100, 100)),
        ("width=100,dpr=1.5", (150, 75)),
    ],
)
def test_fit_modes_produce_the_planned_size(quad_png: bytes, options: str, size: tuple[int, int]) -> None:
    result = transform(quad_png, options)
    image = decode(result.data)
    assert (image.width, image.height) == size == (result.width, result.height)


def test_cover_with_gravity_keeps_the_chosen_side(quad_png: bytes) -> None:
    left = decode(transform(quad_png, "width=50,height=100,fit=cover,gravity=left").data)
    right = decode(transform(quad_png, "width=50,height=100,fit=cover,gravity=right").data)
    assert near(pixel(left, 25, 10), RED) and near(pixel(left, 25, 90), BLUE)
    assert near(pixel(right, 25, 10), GREEN) and near(pixel(right, 25, 90), WHITE)


def test_cover_with_a_focal_point(quad_png: bytes) -> None:
    # 200×100 → 100×100 window around x=0.9: the right half (green/white)
    out = decode(transform(quad_png, "width=100,height=100,fit=cover,gravity=0.9x0.5").data)
    assert near(pixel(out, 50, 10), GREEN) and near(pixel(out, 50, 90), WHITE)
    top = decode(transform(quad_png, "width=200,height=50,fit=cover,gravity=top").data)
    assert near(pixel(top, 20, 25), RED) and near(pixel(top, 180, 25), GREEN)


def test_gravity_auto_and_face_crop_to_the_salient_area() -> None:
    # a flat grey field with one busy, saturated patch on the right
    base = solid(400, 200, (128, 128, 128))
    busy = (gradient(80, 80) * [1, 0, 0]).cast("uchar").copy(interpretation="srgb")
    source = save(base.insert(busy, 300, 60), "png")
    for gravity in ("auto", "face"):
        out = decode(transform(source, f"width=200,height=200,fit=cover,gravity={gravity}").data)
        # the window must contain the patch (x ≥ 200 in the source), not the centre
        reds = [pixel(out, x, 100)[0] - pixel(out, x, 100)[1] for x in range(out.width)]
        assert max(reds) > 60, gravity


def test_pad_fills_with_background(quad_png: bytes) -> None:
    out = decode(transform(quad_png, "width=200,height=200,fit=pad,background=rgb(10,200,30)").data)
    assert (out.width, out.height) == (200, 200)
    assert near(pixel(out, 100, 10), (10, 200, 30))
    assert near(pixel(out, 10, 60), RED)


def test_pad_defaults_to_white_for_opaque_sources(quad_png: bytes) -> None:
    out = decode(transform(quad_png, "width=200,height=200,fit=pad").data)
    assert near(pixel(out, 100, 10), WHITE)
    assert out.bands == 3


def test_pad_is_transparent_for_alpha_sources_kept_as_png() -> None:
    source = save(quadrants(200, 100, alpha=True), "png")
    out = decode(transform(source, "width=200,height=200,fit=pad").data)
    assert out.bands == 4
    assert pixel(out, 100, 10)[3] == 0
    assert pixel(out, 10, 60)[3] == 255


def test_exif_orientation_is_applied() -> None:
    # stored pixels rotated 90° anticlockwise; orientation 6 says "rotate 90° clockwise to view"
    stored = quadrants(200, 100).rot("d270")
    source = with_orientation(stored, 6)
    assert info(source)["width"] == 200
    result = transform(source, "width=100")
    assert (result.width, result.height) == (100, 50)
    tl, tr, bl, br = corners(result.data)
    assert near(tl, RED, 30) and near(tr, GREEN, 30) and near(bl, BLUE, 30) and near(br, WHITE, 30)


def test_cmyk_jpeg_comes_out_as_srgb() -> None:
    source = save(solid(64, 64, (200, 40, 40)).colourspace("cmyk"), "jpeg", Q=95)
    out = decode(transform(source, "width=32,format=png").data)
    assert out.interpretation == "srgb" and out.bands == 3
    assert near(pixel(out, 16, 16), (200, 40, 40), 25)


def test_sixteen_bit_png_comes_out_as_eight_bit() -> None:
    wide = (solid(40, 40, (100, 150, 200)).cast("ushort") * 257).copy(interpretation="rgb16")
    source = save(wide, "png", bitdepth=16)
    out = decode(transform(source, "format=png").data)
    assert out.format == "uchar"
    assert near(pixel(out, 20, 20), (100, 150, 200), 1)


def test_icc_profiles_are_converted_to_srgb() -> None:
    colour = (40, 180, 90)
    p3 = solid(32, 32, colour).icc_transform("p3")
    source = save(p3, "png")
    raw = decode(source)
    assert not near(pixel(raw, 5, 5), colour, 4)  # stored values differ in P3
    out = decode(transform(source, "format=png").data)
    assert near(pixel(out, 5, 5), colour, 4)


def test_animated_gif_keeps_frames_through_resize() -> None:
    source = animation(coloured_frames(80, 60, [RED, GREEN, BLUE]), "gif")
    result = transform(source, "width=40")
    assert (result.format, result.frames, result.width, result.height) == ("gif", 3, 40, 30)
    out = decode(result.data)
    assert out.get("n-pages") == 3 and out.height == 90
    assert near(pixel(out, 20, 15), RED) and near(pixel(out, 20, 45), GREEN) and near(pixel(out, 20, 75), BLUE)
    assert list(out.get("delay")) == [100, 100, 100]


def test_animated_webp_keeps_frames_and_anim_false_takes_the_first() -> None:
    source = animation(coloured_frames(80, 60, [RED, GREEN]), "webp")
    result = transform(source, "width=40,height=40,fit=cover")
    assert (result.format, result.frames) == ("webp", 2)
    out = decode(result.data)
    assert (out.width, out.height) == (40, 80)
    assert near(pixel(out, 20, 60), GREEN, 20)
    still = transform(source, "width=40,anim=false")
    assert still.frames == 1
    assert near(pixel(decode(still.data), 10, 10), RED, 20)


def test_animation_to_a_still_format_uses_the_first_frame() -> None:
    source = animation(coloured_frames(40, 30, [BLUE, RED]), "gif")
    result = transform(source, "format=jpeg")
    assert (result.format, result.frames, result.height) == ("jpeg", 1, 30)
    assert near(pixel(decode(result.data), 20, 15), BLUE, 20)


def test_animations_over_the_pixel_limit_are_delivered_untransformed() -> None:
    """Cloudflare, transform-images/index.mdx "Limits per format": animations above the total of
    50 megapixels (all frames together; max_animation_pixels here) are passed through unchanged."""
    source = animation(coloured_frames(100, 100, [RED, GREEN, BLUE]), "webp")
    settings = Settings(max_animation_pixels=20_000)
    passed = transform(source + b"trailing secrets", "width=50,blur=3", settings=settings)
    assert (passed.data, passed.format, passed.width, passed.frames) == (source, "webp", 100, 3)  # cut at its end
    assert transform(source, "width=50,anim=false", settings=settings).frames == 1
    within = transform(source, "width=50", settings=Settings(max_animation_pixels=30_000))
    assert (within.width, within.frames) == (50, 3)


def test_alpha_is_kept_where_possible_and_flattened_onto_background_elsewhere() -> None:
    half = solid(40, 40, (255, 0, 0, 255)).draw_rect([0, 0, 0, 0], 20, 0, 20, 40, fill=True)
    source = save(half, "png")
    webp = decode(transform(source, "format=webp").data)
    assert webp.bands == 4 and pixel(webp, 30, 20)[3] == 0
    jpeg = decode(transform(source, "format=jpeg").data)
    assert jpeg.bands == 3 and near(pixel(jpeg, 30, 20), WHITE)
    blue = decode(transform(source, "format=jpeg,background=blue").data)
    assert near(pixel(blue, 30, 20), BLUE) and near(pixel(blue, 10, 20), RED)
    opaque_bg = decode(transform(source, "format=png,background=%2300ff00".replace("%23", "#")).data)
    assert near(pixel(opaque_bg, 30, 20), GREEN) and pixel(opaque_bg, 30, 20)[3:] in ([], [255.0])


def test_trim_edges_cut_before_resizing(quad_png: bytes) -> None:
    # cut the left 100 px: only green/white remain
    result = transform(quad_png, "trim=0;0;0;100")
    assert (result.width, result.height) == (100, 100)
    tl, _, bl, _ = corners(result.data)
    assert near(tl, GREEN) and near(bl, WHITE)
    cut = transform(quad_png, "trim.top=50,trim.height=50,trim.left=0,trim.width=100")
    assert (cut.width, cut.height) == (100, 50)
    assert all(near(c, BLUE) for c in corners(cut.data))


def test_trim_border_removes_a_uniform_frame() -> None:
    framed = solid(300, 200, (255, 255, 255)).insert(quadrants(100, 60), 120, 70)
    source = save(framed, "png")
    result = transform(source, "trim=border")
    assert (result.width, result.height) == (100, 60)
    tl, _, _, br = corners(result.data, 1)
    assert near(tl, RED) and near(br, WHITE)
    kept = transform(source, "trim.border.keep=10")
    assert (kept.width, kept.height) == (120, 80)
    # a tolerance above the content's difference from the border colour trims nothing
    coloured = transform(source, "trim.border.color=red,trim.border.tolerance=5")
    assert (coloured.width, coloured.height) == (300, 200)


def test_rotate_and_flip(quad_png: bytes) -> None:
    rotated = transform(quad_png, "rotate=90")
    assert (rotated.width, rotated.height) == (100, 200)
    tl, tr, bl, br = corners(rotated.data)
    assert near(tl, BLUE) and near(tr, RED) and near(bl, WHITE) and near(br, GREEN)
    flipped = corners(transform(quad_png, "flip=h").data)
    assert near(flipped[0], GREEN) and near(flipped[1], RED)
    both = corners(transform(quad_png, "flip=hv").data)
    assert near(both[0], WHITE) and near(both[3], RED)
    upside = corners(transform(quad_png, "rotate=180,width=100").data)
    assert near(upside[0], WHITE)


def test_rotation_fits_the_rotated_image_into_the_box(quad_png: bytes) -> None:
    result = transform(quad_png, "rotate=270,width=50")
    assert (result.width, result.height) == (50, 100)


@pytest.mark.parametrize(
    ("options", "check"),
    [
        ("brightness=0.5", lambda p: near(p, (50, 50, 50), 3)),
        ("brightness=1.5", lambda p: near(p, (150, 150, 150), 3)),
        ("contrast=2", lambda p: near(p, (72, 72, 72), 3)),
        ("gamma=0.5", lambda p: p[0] < 60),
        ("gamma=2", lambda p: p[0] > 140),
    ],
)
def test_colour_adjustments_on_grey(options: str, check: object) -> None:
    source = save(solid(20, 20, (100, 100, 100)), "png")
    out = decode(transform(source, options).data)
    assert callable(check) and check(pixel(out, 10, 10))


def test_saturation_zero_makes_grey_and_keeps_lightness() -> None:
    source = save(solid(20, 20, (200, 50, 50)), "png")
    grey = pixel(decode(transform(source, "saturation=0").data), 10, 10)
    assert max(grey) - min(grey) <= 3
    vivid = pixel(decode(transform(source, "saturation=2").data), 10, 10)
    assert vivid[0] - vivid[1] > 150


def test_blur_softens_edges_and_sharpen_strengthens_them(quad_png: bytes) -> None:
    def edge_step(data: bytes) -> float:
        image = decode(data)
        return abs(pixel(image, 98, 25)[0] - pixel(image, 101, 25)[0])

    plain = edge_step(transform(quad_png, "format=png").data)
    blurred = edge_step(transform(quad_png, "blur=20,format=png").data)
    assert plain > 200 and blurred < plain / 2
    soft = save(quadrants(200, 100).gaussblur(2).cast("uchar"), "png")
    sharpened = decode(transform(soft, "sharpen=10").data)
    original = decode(soft)
    assert (sharpened - original).abs().max() > 2


def test_border_adds_coloured_edges_after_resize(quad_png: bytes) -> None:
    result = transform(quad_png, "width=100,border.width=4,border.color=blue")
    assert (result.width, result.height) == (108, 58)
    out = decode(result.data)
    assert near(pixel(out, 1, 1), BLUE) and near(pixel(out, 10, 10), RED)
    sides = decode(transform(quad_png, "width=100,border.top=6,border.left=0,border.right=0,border.bottom=0").data)
    assert (sides.width, sides.height) == (100, 56)
    assert near(pixel(sides, 50, 2), (0, 0, 0))


def test_format_json_describes_without_pixels(quad_png: bytes) -> None:
    result = transform(quad_png, "width=50,format=json", settings=Settings(json_placeholders=False))
    body = json.loads(result.data)
    assert body == {
        "width": 50,
        "height": 25,
        "original": {"file_size": len(quad_png), "width": 200, "height": 100, "format": "image/png"},
    }
    assert result.media_type == "application/json"


def _rgb(hex_colour: str) -> list[float]:
    return [float(int(hex_colour[i : i + 2], 16)) for i in (1, 3, 5)]


@pytest.mark.parametrize(
    ("options", "colour"),
    [
        ("trim=0;100;50;0", RED),  # the top-left quadrant alone
        ("width=60,height=60,fit=cover,gravity=1x0", GREEN),  # a square cut from the top right
        ("width=40,height=40,fit=cover,gravity=0x1", BLUE),
        ("width=40,height=40,fit=cover,gravity=0x1,rotate=180", GREEN),  # the crop is taken after rotating
        ("trim=50;0;0;100,width=20", WHITE),
    ],
)
def test_format_json_placeholders_describe_the_requested_crop(
    quad_png: bytes, options: str, colour: tuple[int, int, int]
) -> None:
    body = json.loads(transform(quad_png, f"{options},format=json").data)
    assert near(_rgb(body["dominant_color"]), colour, 4)
    assert isinstance(body["blurhash"], str) and isinstance(body["thumbhash"], str)
    assert body["original"]["width"] == 200


def test_format_json_placeholders_of_the_whole_image_differ_from_a_crop(quad_png: bytes) -> None:
    whole = json.loads(transform(quad_png, "format=json").data)
    crop = json.loads(transform(quad_png, "trim=0;100;50;0,format=json").data)
    assert whole["blurhash"] != crop["blurhash"] and whole["thumbhash"] != crop["thumbhash"]
    # a large output is described from a small copy: same fields, same colours
    big = json.loads(transform(quad_png, "width=4000,fit=contain,format=json").data)
    assert (big["width"], big["height"]) == (4000, 2000)
    assert any(near(_rgb(big["dominant_color"]), c, 4) for c in (RED, GREEN, BLUE, WHITE))


def test_format_json_answers_damaged_pixels_from_the_header_without_placeholders(quad_png: bytes) -> None:
    # a PNG whose header is intact but whose pixel data is cut off still answers json
    broken = quad_png[: quad_png.index(b"IDAT") + 40]
    body = json.loads(transform(broken, "format=json").data)
    assert body["original"]["width"] == 200
    assert "blurhash" not in body and "dominant_color" not in body
    with pytest.raises(CorruptImageError, match="damaged or truncated") as info:
        transform(broken, "width=50")
    assert "read error" in (info.value.detail or "")  # libvips' words: logged, not sent


def test_format_auto_negotiates_from_accept(photo_jpeg: bytes) -> None:
    assert transform(photo_jpeg, "format=auto,width=50", accept="image/avif,image/webp,*/*").format == "avif"
    assert transform(photo_jpeg, "format=auto,width=50", accept="image/webp,*/*").format == "webp"
    assert transform(photo_jpeg, "format=auto,width=50", accept="*/*").format == "jpeg"
    alpha = save(quadrants(40, 20, alpha=True), "png")
    assert transform(alpha, "format=auto", accept="text/html").format == "png"


@pytest.mark.parametrize("fmt", ["avif", "webp", "jpeg", "png", "gif"])
def test_each_output_format_decodes_to_the_right_size(photo_jpeg: bytes, fmt: str) -> None:
    result = transform(photo_jpeg, f"width=64,format={fmt}")
    image = decode(result.data)
    assert (image.width, image.height) == (64, 48)
    assert result.format == fmt
    assert near(pixel(image, 32, 24), pixel(decode(photo_jpeg), 160, 120), 30)


def test_baseline_and_progressive_jpeg(photo_jpeg: bytes) -> None:
    progressive = transform(photo_jpeg, "width=200,format=jpeg").data
    baseline = transform(photo_jpeg, "width=200,format=baseline-jpeg").data
    assert b"\xff\xc2" in progressive[:2000] and b"\xff\xc0" not in progressive[:2000]
    assert b"\xff\xc0" in baseline[:2000]


def test_quality_changes_size(photo_jpeg: bytes) -> None:
    low = transform(photo_jpeg, "q=20,format=webp").data
    high = transform(photo_jpeg, "quality=high,format=webp").data
    assert len(low) < len(high)


def test_metadata_copyright_kept_by_default_and_dropped_with_none() -> None:
    image = gradient(64, 48).copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Copyright", "ACME 2026")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Jane")
    source = bytes(image.jpegsave_buffer(keep=pyvips.enums.ForeignKeep.EXIF))
    default = decode(transform(source, "width=32").data)
    assert str(default.get("exif-ifd0-Copyright")).startswith("ACME 2026")
    assert "exif-ifd0-Artist" not in default.get_fields()
    kept = decode(transform(source, "width=32,metadata=keep").data)
    assert str(kept.get("exif-ifd0-Artist")).startswith("Jane")
    none = decode(transform(source, "width=32,metadata=none").data)
    assert not [f for f in none.get_fields() if f.startswith("exif-")]


@pytest.mark.parametrize("fmt", ["tif", "webp", "avif", "gif"])
def test_inputs_are_identified_by_content(fmt: str) -> None:
    source = save(quadrants(80, 40), fmt)
    result = transform(source, "width=40,format=png")
    tl, tr, _, _ = corners(result.data)
    assert near(tl, RED, 40) and near(tr, GREEN, 40)


def test_heic_and_bmp_inputs() -> None:
    import io

    import pillow_heif
    from PIL import Image

    picture = Image.new("RGB", (80, 40), RED)
    picture.paste(GREEN, (40, 0, 80, 40))
    for fmt in ("HEIF", "BMP"):
        buffer = io.BytesIO()
        if fmt == "HEIF":
            pillow_heif.from_pillow(picture).save(buffer, quality=95)
        else:
            picture.save(buffer, "BMP")
        result = transform(buffer.getvalue(), "width=40")
        assert result.format in ("jpeg", "png")
        tl, tr, _, _ = corners(result.data)
        assert near(tl, RED, 40) and near(tr, GREEN, 40), fmt


def test_limits_are_checked_before_decoding(photo_jpeg: bytes) -> None:
    with pytest.raises(InputTooLargeError) as too_many:
        transform(photo_jpeg, "width=10", settings=Settings(max_input_pixels=1000))
    assert too_many.value.status == 403
    with pytest.raises(InputTooLargeError):
        transform(photo_jpeg, "width=10", settings=Settings(max_input_bytes=100))


def test_output_is_clamped_to_the_maximum_side(quad_png: bytes) -> None:
    result = transform(quad_png, "width=2000,fit=contain", settings=Settings(max_output_side=500))
    assert (result.width, result.height) == (500, 250)


def test_bad_inputs_raise_typed_errors(photo_jpeg: bytes) -> None:
    with pytest.raises(UnsupportedFormatError):
        transform(b"hello, not an image", "width=10")
    with pytest.raises(CorruptImageError):
        transform(photo_jpeg[: len(photo_jpeg) // 2], "width=10")
    with pytest.raises(OptionError, match="width"):
        transform(photo_jpeg, "width=0")


def test_segment_needs_a_model(photo_jpeg: bytes) -> None:
    with pytest.raises(FeatureUnavailableError) as error:
        transform(photo_jpeg, "segment=foreground")
    assert error.value.status == 501


def test_info_reads_the_header(photo_jpeg: bytes) -> None:
    assert info(photo_jpeg) == {
        "format": "jpeg",
        "media_type": "image/jpeg",
        "width": 320,
        "height": 240,
        "frames": 1,
        "has_alpha": False,
        "file_size": len(photo_jpeg),
        "orientation": 1,
    }


def test_a_transformation_past_its_time_limit_is_stopped() -> None:
    from enlarger.errors import TransformTimeoutError

    big = save(pyvips.Image.gaussnoise(3000, 3000).cast("uchar"), "png", compression=0)
    with pytest.raises(TransformTimeoutError, match="limit"):
        transform(big, "blur=200,format=png", timeout=0.05)
    # the engine is still healthy afterwards
    assert transform(big, "width=10", timeout=30).width == 10


def test_trim_border_on_damaged_pixels_is_a_typed_error(quad_png: bytes) -> None:
    broken = quad_png[: quad_png.index(b"IDAT") + 40]
    with pytest.raises(CorruptImageError):
        transform(broken, "trim=border")


class _CountingDetector:
    """A stand-in face detector: one face at the centre-left of the inference copy; counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def detect(self, rgb: np.ndarray[Any, Any]) -> list[Box]:
        self.runs += 1
        h, w = rgb.shape[:2]
        return [Box(w * 0.2, h * 0.4, w * 0.3, h * 0.6)]


@pytest.mark.parametrize(
    ("options", "detections", "zoomed"),
    [
        ("gravity=face,width=100", 0, False),  # nothing is cut away: faces are not looked for
        ("gravity=face,width=100,height=100,fit=cover", 1, False),  # a crop around the face
        ("gravity=face,zoom=0.5", 1, True),  # a zoom narrows the area kept
        ("gravity=face,zoom=0.5,width=100,height=100,fit=cover", 1, True),
    ],
)
def test_face_gravity_detects_and_plans_once(
    options: str, detections: int, zoomed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = _CountingDetector()
    monkeypatch.setattr(faces, "detector", lambda settings: detector)
    plans: list[Plan] = []

    def counted(*args: Any, **kwargs: Any) -> Plan:
        plans.append(plan(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(pipeline, "plan", counted)
    source = save(gradient(400, 300), "png")
    decision = pipeline.decide(source, parse_options(options), settings=Settings())
    assert (detector.runs, len(plans)) == (detections, 1)
    assert (decision.plan.trim is not None) == zoomed
    assert (decision.focal is not None) == (detections == 1)
    out = decode(transform(source, options).data)
    assert (out.width, out.height) == decision.plan.output


def test_format_json_without_a_configured_model_answers_without_placeholders(quad_png: bytes) -> None:
    body = json.loads(transform(quad_png, "segment=foreground,format=json").data)
    assert (body["width"], body["height"]) == (200, 100) and "thumbhash" not in body
    with pytest.raises(FeatureUnavailableError):
        transform(quad_png, "segment=foreground,format=png")


def test_format_placeholder_is_a_tiny_blurred_webp_of_the_crop(quad_png: bytes) -> None:
    result = transform(quad_png, "width=300,height=100,fit=cover,gravity=0x0,format=placeholder")
    assert result.media_type == "image/webp" and result.data[8:12] == b"WEBP"
    assert (result.width, result.height) == (32, 11)  # the crop's 3:1 shape, at most 32 pixels a side
    assert len(result.data) < 400  # small enough to inline as a data: URL
    out = decode(result.data)
    assert (out.width, out.height) == (32, 11)
    # the top of the cover crop is red (left) and green (right), blurred in between
    assert near(pixel(out, 1, 3), RED, 40) and near(pixel(out, 30, 3), GREEN, 40)
    assert "exif-data" not in out.get_fields()


def test_format_placeholder_keeps_transparency() -> None:
    canvas = save(solid(64, 64, (0, 0, 0, 0)).insert(solid(32, 32, (255, 0, 0, 255)), 16, 16), "png")
    out = decode(transform(canvas, "format=placeholder").data)
    assert out.bands == 4
    assert pixel(out, 0, 0)[3] < 40 and near(pixel(out, 16, 16), (255, 0, 0, 255), 40)


@pytest.mark.parametrize("options", ["brightness=0", "contrast=0", "gamma=0", "brightness=0,contrast=0,gamma=0"])
def test_zero_brightness_contrast_and_gamma_are_ignored(options: str) -> None:
    """Cloudflare, P/brightness.mdx, P/contrast.mdx, P/gamma.mdx: a value of 0 is ignored (not an error)."""
    source = save(gradient(64, 48), "png")
    assert transform(source, f"{options},format=png").data == transform(source, "format=png").data


@pytest.mark.parametrize(
    ("options", "width", "expected"),
    [
        ("format=auto", 1200, "avif"),
        ("format=auto", 1201, "webp"),  # over the hard limit for format=auto: WebP
        ("format=avif", 1600, "avif"),  # named explicitly, the limit is 1,600 px
        ("format=avif", 1601, "webp"),
    ],
)
def test_avif_outputs_over_the_hard_limit_fall_back(options: str, width: int, expected: str) -> None:
    """Cloudflare, transform-images/index.mdx "Limits per format": AVIF's hard limit is 1,200 px on
    the longest side (1,600 px with an explicit format=avif); larger images are served as WebP."""
    source = save(pyvips.Image.black(100, 20, bands=3).copy(interpretation="srgb"), "png")
    chosen = transform(source, f"{options},width={width},fit=contain", accept="image/avif,image/webp,*/*")
    assert (chosen.format, chosen.width) == (expected, width)
    limits = Settings(avif_max_side=100, avif_max_side_explicit=100)  # the limits are settings
    assert transform(source, "format=auto", accept="image/avif,*/*", settings=limits).format == "avif"
    assert (
        transform(source, "format=auto,width=101,fit=contain", accept="image/avif,*/*", settings=limits).format == "png"
    )


def test_a_cut_out_too_large_for_avif_keeps_its_transparency() -> None:
    """A segment=foreground output over the AVIF size limit falls back (AVIF limits, cloudflare-docs
    "format=auto"); for a client that takes AVIF but not WebP the fallback is PNG, not the source's JPEG."""
    photo = save(gradient(2400, 1600), "jpeg")
    decision = pipeline.decide(
        photo, parse_options("segment=foreground,format=auto"), accept="image/avif,*/*", settings=Settings()
    )
    assert max(decision.plan.output) > Settings().avif_max_side
    assert decision.format == "png"


@pytest.mark.parametrize(
    ("words", "label"),
    [
        ("tiff2vips: Inconsistent directory count between StripOffsets and StripByteCounts", "TIFF"),
        ("tiff2vips: Not enough data at scanline 0 (short 2072 bytes)", "TIFF"),
        ("gifload: no frames in GIF", "GIF"),
    ],
)
def test_any_loader_error_is_a_damaged_image(words: str, label: str) -> None:
    """Issue 24: libtiff's own words matched none of the decode words, so damage read as our bug (500/9523).

    The words are libvips' (the first seen on hostile TIFFs that tests/server/test_hostile_images.py
    builds; the other could not be built here), as it reports them when the lazy pipeline runs."""
    failure = pyvips.Error("unable to call VipsForeignSavePngTarget", f"{words}\nvips2png: unable to write to target")
    classified = pipeline._classified(failure, save(gradient(8, 8), "png"))
    assert isinstance(classified, CorruptImageError) and (classified.status, classified.code) == (415, 9520)
    assert classified.message == f"the {label} image is damaged or truncated and cannot be decoded"
    assert classified.detail == words
    encoder = pipeline._classified(pyvips.Error("unable to call", "vips2png: out of memory"), b"")
    assert isinstance(encoder, ProcessingError) and encoder.status == 500  # not a loader: still our problem
