"""The decoded-copy cache (issue 26): outputs made from a copy are the right size and pixels, as
good as the direct path by SSIMULACRA2, never made from too few pixels, never stale, bounded."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvips

import enlarger
from enlarger import decode_cache
from enlarger.decode_cache import CACHE, DecodeCache, Stats, level
from enlarger.errors import TransformTimeoutError
from enlarger.geometry import Size
from enlarger.perceptual import Reference
from enlarger.pipeline import transform
from enlarger.settings import Settings
from tests.imaging import animation, coloured_frames, decode, near, pixel, quadrants, save, with_orientation

SAMPLE = pyvips.Image.new_from_file(str(Path(enlarger.__file__).parent / "assets" / "sample.jpg"))
ON = Settings()
OFF = Settings(decode_cache_bytes=0)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def _photo(width: int = 1920, height: int = 1280) -> pyvips.Image:
    """Photo-like pixels with detail up to the finest scale: the sample photo enlarged, and fine
    grain over it (seeded: the same pixels every run)."""
    base = SAMPLE.resize(width / SAMPLE.width, vscale=height / SAMPLE.height)
    grain = pyvips.Image.gaussnoise(width, height, sigma=18, mean=0, seed=26).gaussblur(0.6)
    return (base + grain).cast("uchar").copy(interpretation="srgb").copy_memory()


def _delta(before: Stats) -> tuple[int, int, int]:
    """Hits, misses and copies since ``before``."""
    after = CACHE.stats()
    return after.hits - before.hits, after.misses - before.misses, after.copies - before.copies


def _rgb(image: pyvips.Image) -> np.ndarray:
    image = image.copy_memory()
    array = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width, image.bands))
    return np.ascontiguousarray(array[:, :, :3])


def _reference(data: bytes, width: int, height: int) -> Reference:
    """The source resized without shortcuts: full-resolution decode, Lanczos-3 in floating point, no box pre-shrink."""
    full = pyvips.Image.new_from_buffer(data, "").cast("float")
    exact = full.resize(width / full.width, vscale=height / full.height, kernel="lanczos3", gap=0)
    return Reference(_rgb(exact.rint().cast("uchar")))


def _prime(data: bytes, key: str) -> None:
    """Ask for a source twice at small sizes: the first request is only remembered, the second
    decodes a copy at half the original's size (it serves outputs up to a quarter of it)."""
    transform(data, "width=100,format=png", settings=ON, source_id=key)
    transform(data, "width=200,format=png", settings=ON, source_id=key)


# --- the sizes and the bound, on their own


def test_level_is_the_smallest_power_of_two_serving_twice_the_largest_size_asked() -> None:
    assert level(Size(1920, 1280), Size(200, 133)) == (960, 640)  # 4 × 200 = 800 ≤ 960, 480 < 800
    assert level(Size(1920, 1280), Size(100, 67)) == (480, 320)
    assert level(Size(1920, 1280), Size(480, 320)) == (1920, 1280)  # the full image
    assert level(Size(1921, 1281), Size(100, 67)) == (481, 321)  # rounded up as libjpeg scales


def _fake(width: int, height: int) -> pyvips.Image:
    return pyvips.Image.black(width, height, bands=3).copy_memory()


def test_the_bound_evicts_the_least_recently_used_copy() -> None:
    cache = DecodeCache(2 * 480 * 320 * 3)  # room for two copies of 480×320
    need, oriented = Size(100, 67), Size(1920, 1280)

    def decode(size: Size) -> pyvips.Image:
        return _fake(*size)

    for key in ("a", "b"):
        assert cache.copy_for(key, need, oriented, 3, decode) is None  # first request: only remembered
        assert cache.copy_for(key, need, oriented, 3, decode) is not None  # second: a copy
    assert cache.copy_for("a", need, oriented, 3, decode) is not None  # a used last
    cache.copy_for("c", need, oriented, 3, decode)
    cache.copy_for("c", need, oriented, 3, decode)  # its copy evicts b, the least recently used
    assert (cache.stats().entries, cache.stats().bytes, cache.stats().copies) == (2, 2 * 480 * 320 * 3, 3)
    assert cache.copy_for("a", need, oriented, 3, decode) is not None
    assert cache.stats().copies == 3  # a was kept
    assert cache.copy_for("b", need, oriented, 3, decode) is not None
    assert cache.stats().copies == 4  # b was not: decoded again
    cache.bound(0)
    assert (cache.stats().entries, cache.stats().bytes) == (0, 0)


def test_a_copy_larger_than_the_bound_is_never_decoded() -> None:
    cache = DecodeCache(1000)
    calls: list[Size] = []

    def decode(size: Size) -> pyvips.Image:
        calls.append(size)
        return _fake(*size)

    for _ in range(3):
        assert cache.copy_for("big", Size(100, 67), Size(1920, 1280), 3, decode) is None
    assert calls == []


def test_concurrent_misses_of_one_source_decode_one_copy() -> None:
    cache = DecodeCache(10**8)
    need, oriented = Size(100, 67), Size(1920, 1280)
    entered, release = threading.Event(), threading.Event()
    calls: list[Size] = []

    def slow(size: Size) -> pyvips.Image:
        calls.append(size)
        entered.set()
        assert release.wait(timeout=60)
        return _fake(*size)

    assert cache.copy_for("k", need, oriented, 3, slow) is None  # seen once
    results: list[pyvips.Image | None] = []
    threads = [threading.Thread(target=lambda: results.append(cache.copy_for("k", need, oriented, 3, slow)))]
    threads[0].start()
    assert entered.wait(timeout=60)  # the first is decoding; three more arrive meanwhile
    threads += [threading.Thread(target=lambda: results.append(cache.copy_for("k", need, oriented, 3, slow)))]
    threads += [threading.Thread(target=lambda: results.append(cache.copy_for("k", need, oriented, 3, slow)))]
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(calls) == 1
    assert len(results) == 3 and all(result is results[0] for result in results)
    assert cache.stats().hits == 2


# --- through the engine


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
def test_outputs_come_from_the_copy_at_the_right_size(fmt: str) -> None:
    data = save(_photo(), fmt, **({"Q": 90} if fmt != "png" else {}))
    widths = (240, 333, 480)
    direct = [decode(transform(data, f"width={width},format=png", settings=OFF).data) for width in widths]
    _prime(data, "k")
    before = CACHE.stats()
    assert before.copies == 1 and before.entries == 1
    for width, alone in zip(widths, direct, strict=True):
        copied = decode(transform(data, f"width={width},format=png", settings=ON, source_id="k").data)
        assert (copied.width, copied.height) == (alone.width, alone.height) == (width, round(1280 * width / 1920))
        assert (copied - alone).abs().avg() < 4  # the same picture (SSIMULACRA2 below says how close)
    assert _delta(before) == (3, 0, 0)  # three outputs, all from the copy, nothing decoded


def test_the_first_request_of_a_source_only_remembers_it() -> None:
    data = save(_photo(640, 427), "png")
    transform(data, "width=100", settings=ON, source_id="once")
    assert (CACHE.stats().copies, CACHE.stats().entries, CACHE.stats().misses) == (0, 0, 1)


@pytest.mark.parametrize("source", ["png", "webp", "jpeg"])
def test_ssimulacra2_of_outputs_from_the_copy_is_within_0_3_of_the_direct_path(source: str) -> None:
    """The issue's quality guard: each output scored against the source resized without shortcuts.

    Lossless PNG outputs are the pixels themselves and are held to it one by one; lossy outputs
    (WebP, JPEG) move by an encoder's whims at any change of input (±1 either way was seen), so
    their mean is held to it."""
    data = save(_photo(), source, **({"Q": 92} if source != "png" else {}))
    options = [f"width={width},format={fmt}" for width in (240, 360, 480) for fmt in ("png", "webp", "jpeg")]
    direct = [decode(transform(data, option, settings=OFF).data) for option in options]
    _prime(data, "q")
    before = CACHE.stats()
    copied = [decode(transform(data, option, settings=ON, source_id="q").data) for option in options]
    assert _delta(before) == (9, 0, 0)  # every output came from the copy
    lossy: list[tuple[float, float]] = []
    for option, alone, made in zip(options, direct, copied, strict=True):
        reference = _reference(data, alone.width, alone.height)
        scores = reference.score(_rgb(made)), reference.score(_rgb(alone))
        if option.endswith("png"):
            assert scores[0] >= scores[1] - 0.3, (option, scores)
        else:
            lossy.append(scores)
    copied_mean, direct_mean = (statistics.mean(pair[i] for pair in lossy) for i in (0, 1))
    assert copied_mean >= direct_mean - 0.3, lossy


def test_a_crop_needing_more_pixels_than_the_copy_holds_is_decoded_at_full_resolution() -> None:
    data = save(_photo(), "png")
    crop = "trim.left=700,trim.top=500,trim.width=300,trim.height=200,width=300,format=png"
    direct = decode(transform(data, crop, settings=OFF).data)
    _prime(data, "crop")  # the copy is 960×640
    before = CACHE.stats()
    copied = decode(transform(data, crop, settings=ON, source_id="crop").data)
    assert (copied.width, copied.height) == (300, 200)
    assert (copied - direct).abs().max() == 0  # the original's own pixels, not the half-size copy's enlarged
    hits, _, copies = _delta(before)
    assert (hits, copies) == (0, 1)  # the small copy did not serve it; a full one was decoded


@pytest.mark.parametrize(
    "options",
    ["width=100,metadata=keep", "width=4000,fit=contain", "width=500,height=500,fit=cover,dpr=2"],
    ids=["metadata-keep", "enlarged", "dpr-beyond-the-original"],
)
def test_outputs_the_copy_cannot_stand_in_for_are_decoded_directly(options: str) -> None:
    data = save(_photo(640, 427), "jpeg", Q=90)
    for _ in range(3):
        transform(data, options, settings=ON, source_id="direct")
    assert CACHE.stats() == Stats(0, 0, 0, 0, 0)


def test_animations_are_decoded_directly() -> None:
    data = animation(coloured_frames(64, 48, [(200, 0, 0), (0, 200, 0), (0, 0, 200)]), "webp")
    for _ in range(3):
        transform(data, "width=32", settings=ON, source_id="anim")
    assert CACHE.stats().copies == 0


def test_an_oriented_source_comes_out_upright_from_the_copy() -> None:
    data = with_orientation(quadrants(1280, 960), 6)  # stored landscape, shown portrait (960×1280)
    direct = decode(transform(data, "width=200,format=png", settings=OFF).data)
    _prime(data, "rot")
    before = CACHE.stats()
    copied = decode(transform(data, "width=200,format=png", settings=ON, source_id="rot").data)
    assert (copied.width, copied.height) == (direct.width, direct.height) == (200, 267)
    assert (copied - direct).abs().avg() < 2
    assert _delta(before) == (1, 0, 0)


def test_transparency_is_kept_in_the_copy() -> None:
    image = quadrants(1600, 800, alpha=True).copy_memory()
    alpha = pyvips.Image.xyz(1600, 800)[0] * (255 / 1599)
    data = save(image[:3].bandjoin(alpha.cast("uchar")), "png")
    direct = decode(transform(data, "width=300,format=png", settings=OFF).data)
    _prime(data, "alpha")
    copied = decode(transform(data, "width=300,format=png", settings=ON, source_id="alpha").data)
    assert copied.bands == direct.bands == 4
    assert (copied - direct).abs().avg() < 2
    assert CACHE.stats().hits == 1


def test_new_bytes_are_decoded_anew() -> None:
    """Without an identity the bytes are the key: another picture never comes from the old copy."""
    red, blue = (save(pyvips.Image.black(800, 600, bands=3) + colour, "png") for colour in ([200, 0, 0], [0, 0, 200]))
    transform(red, "width=50", settings=ON)
    transform(red, "width=60", settings=ON)
    assert CACHE.stats().copies == 1
    out = decode(transform(blue, "width=70,format=png", settings=ON).data)
    assert [round(v) for v in out.getpoint(35, 20)] == [0, 0, 200]
    assert CACHE.stats().hits == 0  # the red copy served nothing


def test_the_setting_bounds_the_cache_and_zero_turns_it_off() -> None:
    small = Settings(decode_cache_bytes=960 * 640 * 3)  # one half-size copy of a 1920×1280 photo
    first, second = save(_photo(), "png"), save(_photo().flip("horizontal"), "png")
    for key, data in (("first", first), ("second", second)):
        transform(data, "width=100", settings=small, source_id=key)
        transform(data, "width=200", settings=small, source_id=key)
    assert (CACHE.stats().entries, CACHE.stats().bytes) == (1, 960 * 640 * 3)
    before = CACHE.stats()
    transform(first, "width=150", settings=small, source_id="first")  # evicted: decoded again
    assert _delta(before)[2] == 1
    transform(first, "width=150", settings=OFF, source_id="first")
    assert (CACHE.stats().entries, CACHE.stats().bytes) == (0, 0)


def test_a_damaged_source_fails_as_it_does_without_the_copy() -> None:
    data = save(_photo(640, 427), "jpeg", Q=90)
    broken = data[: len(data) // 2]  # the header reads; the pixels end half way
    errors = []
    for settings in (ON, ON, OFF):
        with pytest.raises(enlarger.EnlargerError) as caught:
            transform(broken, "width=100", settings=settings, source_id="broken")
        errors.append((type(caught.value), caught.value.status))
    assert errors[0] == errors[1] == errors[2]
    assert decode_cache.CACHE.stats().entries == 0


@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_a_copy_made_under_a_time_limit_serves_later_requests(fmt: str) -> None:
    """The limit's libvips signal handler belongs to one request: a copy outliving it must not carry
    it (once it did, and the third request aborted the process)."""
    data = save(quadrants(200, 100), "png")  # small: the copy is the full image, decoded to memory
    for width in (100, 90, 80):
        out = decode(transform(data, f"width={width},format={fmt}", settings=ON, timeout=30).data)
        assert out.width == width and near(pixel(out, 5, 5), (255, 0, 0))
    assert CACHE.stats().hits == 1


def test_a_copy_decoded_past_the_limit_times_out_and_is_not_kept() -> None:
    data = save(pyvips.Image.gaussnoise(3000, 2000).cast("uchar").colourspace("srgb"), "png")
    transform(data, "width=300,format=png", settings=ON, timeout=30)  # remembered: the next decodes a copy
    with pytest.raises(TransformTimeoutError):
        transform(data, "width=300,format=png", settings=ON, timeout=0.05)  # killed while decoding the copy
    assert CACHE.stats().entries == 0 and CACHE.stats().copies == 0
    out = decode(transform(data, "width=200,format=png", settings=ON, timeout=30).data)  # decodes it again
    assert out.width == 200 and CACHE.stats().copies == 1 and CACHE.stats().entries == 1
