"""negotiate: parsing real browsers' Accept headers and the output-format decision table."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from enlarger.codecs import Header
from enlarger.formats import REQUESTABLE, Format, media_type
from enlarger.negotiate import Accept, choose_format, depends_on_accept, legacy_format

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
CHROME_DOCUMENT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
SAFARI_17 = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,"
    "image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
FIREFOX_OLD = "image/webp,*/*"
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
EDGE_LEGACY = "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"

BOTH = Accept(avif=True, webp=True)
WEBP_ONLY = Accept(avif=False, webp=True)
AVIF_ONLY = Accept(avif=True, webp=False)
NEITHER = Accept()
ALL_ACCEPTS = (BOTH, WEBP_ONLY, AVIF_ONLY, NEITHER)
OUTPUT_FORMATS = {"jpeg", "png", "gif", "webp", "avif", "jxl", "json"}


def header(fmt: Format, *, alpha: bool = False, frames: int = 1) -> Header:
    return Header(fmt, 640, 480, frames, alpha, 12_345)


# --- Accept -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CHROME, BOTH),
        (CHROME_DOCUMENT, BOTH),
        (SAFARI_17, Accept(avif=True, webp=True, jxl=True)),
        (FIREFOX, BOTH),
        (FIREFOX_OLD, WEBP_ONLY),
        (OLD_SAFARI, NEITHER),
        (EDGE_LEGACY, NEITHER),
        ("*/*", NEITHER),
        ("image/*", NEITHER),
        ("image/avif", AVIF_ONLY),
        ("image/webp", WEBP_ONLY),
        ("", NEITHER),
        (None, NEITHER),
    ],
    ids=[
        "chrome",
        "chrome-document",
        "safari-17",
        "firefox",
        "firefox-old",
        "old-safari",
        "edge-legacy",
        "curl",
        "image-wildcard",
        "avif-alone",
        "webp-alone",
        "empty",
        "none",
    ],
)
def test_accept_parses_real_headers(accept: str | None, expected: Accept) -> None:
    assert Accept.parse(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/avif;q=0,image/webp,*/*;q=0.8", WEBP_ONLY),
        ("image/avif,image/webp;q=0", AVIF_ONLY),
        ("image/avif;q=0.0,image/webp;q=0.000,image/*", NEITHER),
        ("image/avif; q=0 ,image/webp ; q=0.5", WEBP_ONLY),
        ("image/avif;Q=0,image/webp", WEBP_ONLY),
        ("image/avif;q=0.001,image/webp;q=1", BOTH),
        ("image/avif;level=1;q=0.9,image/webp;foo=bar", BOTH),
        ("IMAGE/AVIF,Image/WebP", BOTH),
        ("  image/avif  ,  image/webp  ", BOTH),
    ],
)
def test_accept_weights_exclude_with_q_zero(accept: str, expected: Accept) -> None:
    assert Accept.parse(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "image/avif;q=abc,image/webp",
        "image/avif;q=,image/webp",
        "image/avif;q,image/webp",
        "image/avif;q=nan,image/webp",
        "image/avif;q=-1,image/webp",
    ],
)
def test_accept_garbage_weight_does_not_accept_the_type(accept: str) -> None:
    assert Accept.parse(accept) == WEBP_ONLY


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (",,,", NEITHER),
        (";;;", NEITHER),
        ("image/avif;;;", AVIF_ONLY),
        ("=;=,=", NEITHER),
        (";q=1", NEITHER),
        ("\x00\xff", NEITHER),
        ("image/,/,q=1", NEITHER),
        ("image/avif,,image/webp,", BOTH),
        ("image/avifx,ximage/webp", NEITHER),
    ],
)
def test_accept_survives_malformed_headers(accept: str, expected: Accept) -> None:
    assert Accept.parse(accept) == expected


_MEDIA = st.sampled_from(["image/avif", "image/webp", "image/png", "image/*", "*/*", "text/html", "video/*"])
_WEIGHT = st.one_of(st.none(), st.sampled_from(["0", "0.0", "0.5", "1", "0.001", "1.0"]))


@hyp_settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(_MEDIA, _WEIGHT), max_size=8), spaces=st.booleans())
def test_accept_matches_the_explicit_positive_entries(items: list[tuple[str, str | None]], spaces: bool) -> None:
    sep = ", " if spaces else ","
    text = sep.join(media if q is None else f"{media};q={q}" for media, q in items)

    def accepted(media: str) -> bool:
        return any(m == media and (q is None or float(q) > 0) for m, q in items)

    assert Accept.parse(text) == Accept(avif=accepted("image/avif"), webp=accepted("image/webp"))


@hyp_settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_accept_never_raises(text: str) -> None:
    parsed = Accept.parse(text)
    assert parsed in ALL_ACCEPTS


# --- legacy_format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "animated", "expected"),
    [
        (header("jpeg"), False, "jpeg"),
        (header("png"), False, "png"),
        (header("png", alpha=True), False, "png"),
        (header("gif"), False, "png"),
        (header("gif", frames=3), True, "gif"),
        (header("webp", frames=3), True, "gif"),
        (header("webp"), False, "jpeg"),
        (header("webp", alpha=True), False, "png"),
        (header("avif"), False, "jpeg"),
        (header("heic"), False, "jpeg"),
        (header("heic", alpha=True), False, "png"),
        (header("tiff"), False, "jpeg"),
        (header("tiff", alpha=True), False, "png"),
        (header("bmp"), False, "jpeg"),
        (header("bmp", alpha=True), False, "png"),
    ],
)
def test_legacy_format(source: Header, animated: bool, expected: str) -> None:
    assert legacy_format(source, animated=animated) == expected


# --- choose_format ----------------------------------------------------------------------------

_TABLE: list[tuple[str | None, Header, Accept, bool, bool, str]] = [
    # (requested, source, accept, animated, fast, expected)
    # explicit formats win over Accept and the source
    ("jpeg", header("png", alpha=True), BOTH, False, False, "jpeg"),
    ("png", header("jpeg"), BOTH, False, False, "png"),
    ("webp", header("jpeg"), NEITHER, False, False, "webp"),
    ("avif", header("jpeg"), NEITHER, False, False, "avif"),
    ("gif", header("png"), BOTH, False, False, "gif"),
    ("json", header("gif", frames=3), BOTH, True, False, "json"),
    ("json", header("jpeg"), NEITHER, False, True, "json"),
    ("baseline-jpeg", header("png", alpha=True), BOTH, False, False, "jpeg"),
    ("baseline-jpeg", header("webp"), BOTH, False, True, "jpeg"),
    # auto: AVIF, then WebP, then the legacy family
    ("auto", header("jpeg"), BOTH, False, False, "avif"),
    ("auto", header("png", alpha=True), AVIF_ONLY, False, False, "avif"),
    ("auto", header("jpeg"), WEBP_ONLY, False, False, "webp"),
    ("auto", header("png", alpha=True), WEBP_ONLY, False, False, "webp"),
    ("auto", header("jpeg"), NEITHER, False, False, "jpeg"),
    ("auto", header("webp"), NEITHER, False, False, "jpeg"),
    ("auto", header("avif"), NEITHER, False, False, "jpeg"),
    ("auto", header("png"), NEITHER, False, False, "png"),
    ("auto", header("webp", alpha=True), NEITHER, False, False, "png"),
    ("auto", header("heic"), NEITHER, False, False, "jpeg"),
    ("auto", header("tiff", alpha=True), NEITHER, False, False, "png"),
    ("auto", header("bmp"), NEITHER, False, False, "jpeg"),
    ("auto", header("gif"), NEITHER, False, False, "png"),
    # auto with animations: WebP when accepted, else GIF, never AVIF
    ("auto", header("gif", frames=3), BOTH, True, False, "webp"),
    ("auto", header("gif", frames=3), WEBP_ONLY, True, False, "webp"),
    ("auto", header("gif", frames=3), AVIF_ONLY, True, False, "gif"),
    ("auto", header("gif", frames=3), NEITHER, True, False, "gif"),
    ("auto", header("webp", frames=3), NEITHER, True, False, "gif"),
    ("auto", header("webp", frames=3), BOTH, True, False, "webp"),
    # anim=false: the first frame is a still image and may become AVIF
    ("auto", header("gif", frames=3), BOTH, False, False, "avif"),
    ("auto", header("gif", frames=3), NEITHER, False, False, "png"),
    # compression=fast: the legacy format, whatever the client accepts
    ("auto", header("jpeg"), BOTH, False, True, "jpeg"),
    ("auto", header("png"), BOTH, False, True, "png"),
    ("auto", header("webp", alpha=True), BOTH, False, True, "png"),
    ("auto", header("gif", frames=3), BOTH, True, True, "gif"),
    ("webp", header("jpeg"), BOTH, False, True, "jpeg"),
    ("avif", header("jpeg"), BOTH, False, True, "jpeg"),
    ("avif", header("png", alpha=True), BOTH, False, True, "png"),
    (None, header("webp"), BOTH, False, True, "jpeg"),
    (None, header("avif"), BOTH, False, True, "jpeg"),
    ("png", header("jpeg"), BOTH, False, True, "png"),
    ("jpeg", header("png"), BOTH, False, True, "jpeg"),
    ("gif", header("jpeg"), BOTH, False, True, "gif"),
    # avif cannot animate: WebP instead
    ("avif", header("gif", frames=3), NEITHER, True, False, "webp"),
    ("avif", header("webp", frames=3), BOTH, True, False, "webp"),
    ("avif", header("gif", frames=3), BOTH, False, False, "avif"),
    # no format: keep the source family; formats browsers cannot show become legacy
    (None, header("jpeg"), BOTH, False, False, "jpeg"),
    (None, header("png"), BOTH, False, False, "png"),
    (None, header("gif"), BOTH, False, False, "gif"),
    (None, header("gif", frames=3), BOTH, True, False, "gif"),
    (None, header("webp"), NEITHER, False, False, "webp"),
    (None, header("webp", frames=3), NEITHER, True, False, "webp"),
    (None, header("avif"), NEITHER, False, False, "avif"),
    (None, header("heic"), BOTH, False, False, "jpeg"),
    (None, header("heic", alpha=True), BOTH, False, False, "png"),
    (None, header("tiff"), BOTH, False, False, "jpeg"),
    (None, header("tiff", alpha=True), BOTH, False, False, "png"),
    (None, header("bmp"), BOTH, False, False, "jpeg"),
    (None, header("bmp", alpha=True), BOTH, False, False, "png"),
]


@pytest.mark.parametrize(("requested", "source", "accept", "animated", "fast", "expected"), _TABLE)
def test_choose_format(
    requested: str | None, source: Header, accept: Accept, animated: bool, fast: bool, expected: str
) -> None:
    assert choose_format(requested, source, accept, animated=animated, fast=fast) == expected


def test_choose_format_from_real_browsers() -> None:
    photo = header("jpeg")
    gif = header("gif", frames=5)
    assert choose_format("auto", photo, Accept.parse(CHROME), animated=False) == "avif"
    assert choose_format("auto", photo, Accept.parse(SAFARI_17), animated=False) == "avif"
    assert choose_format("auto", photo, Accept.parse(FIREFOX_OLD), animated=False) == "webp"
    assert choose_format("auto", photo, Accept.parse(OLD_SAFARI), animated=False) == "jpeg"
    assert choose_format("auto", gif, Accept.parse(CHROME), animated=True) == "webp"
    assert choose_format("auto", gif, Accept.parse(OLD_SAFARI), animated=True) == "gif"
    assert choose_format("auto", header("png", alpha=True), Accept.parse(OLD_SAFARI), animated=False) == "png"


_SOURCES = [
    header(fmt, alpha=alpha, frames=frames)
    for fmt in ("jpeg", "png", "gif", "webp", "avif", "heic", "tiff", "bmp")
    for alpha in (False, True)
    for frames in ((1, 3) if fmt in ("gif", "webp") else (1,))
]
_REQUESTS: list[str | None] = [None, *REQUESTABLE]


def _cases() -> list[tuple[str | None, Header, bool, bool]]:
    return [
        (requested, source, animated, fast)
        for requested, source, fast in itertools.product(_REQUESTS, _SOURCES, (False, True))
        for animated in ((False, True) if source.animated else (False,))
    ]


def test_choose_format_invariants() -> None:
    for requested, source, animated, fast in _cases():
        results = {
            accept: choose_format(requested, source, accept, animated=animated, fast=fast) for accept in ALL_ACCEPTS
        }
        context = (requested, source, animated, fast, results)
        for result in results.values():
            assert result in OUTPUT_FORMATS, context
            assert media_type(result), context
            if animated:
                assert result != "avif", context
            if fast and requested in (None, "auto", "webp", "avif"):
                assert result in ("jpeg", "png", "gif"), context
            if requested == "placeholder":
                assert result == "webp", context
            if requested not in (None, "auto", "avif", "webp", "baseline-jpeg", "placeholder") and not (
                fast and requested in ("webp", "avif")
            ):
                assert result == requested, context
        if depends_on_accept(requested, fast):
            assert len(set(results.values())) > 1, context
        else:
            assert len(set(results.values())) == 1, context


def test_depends_on_accept() -> None:
    assert depends_on_accept("auto") is True
    assert depends_on_accept("auto", fast=True) is False
    for requested in (None, "avif", "webp", "jpeg", "baseline-jpeg", "png", "gif", "json"):
        assert depends_on_accept(requested) is False, requested
        assert depends_on_accept(requested, fast=True) is False, requested


# --- JPEG XL ----------------------------------------------------------------------------------

JXL_SAFARI = Accept.parse(SAFARI_17)


def test_auto_answers_jpeg_xl_only_behind_the_setting() -> None:
    photo = Header("jpeg", 640, 480, 1, False, 12345)
    assert choose_format("auto", photo, JXL_SAFARI, animated=False) == "avif"  # setting off (default)
    assert choose_format("auto", photo, JXL_SAFARI, animated=False, jxl=True) == "jxl"
    assert choose_format("auto", photo, BOTH, animated=False, jxl=True) == "avif"  # not accepted: never
    assert choose_format("auto", photo, JXL_SAFARI, animated=True, jxl=True) == "webp"  # frames: not JPEG XL
    assert choose_format("jxl", photo, NEITHER, animated=False) == "jxl"  # explicit: always


def test_the_cache_token_names_jpeg_xl_only_when_accepted_and_possible() -> None:
    assert BOTH.token(jxl_auto=True) == "avif=1,webp=1"  # unchanged for every client without image/jxl
    assert JXL_SAFARI.token(jxl_auto=True) == "avif=1,webp=1,jxl=1"
    assert JXL_SAFARI.token(jxl_auto=False) == "avif=1,webp=1"  # jxl_auto off: JPEG XL is never the answer
