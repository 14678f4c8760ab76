"""formats: the registry's rows agree with the literals, and each column says what the engine really does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import pyvips

from enlarger import codecs, formats
from enlarger.formats import REGISTRY, Format, Writable, image_end, spec_of
from enlarger.negotiate import Accept, choose_format
from enlarger.options import FORMATS, parse_options
from enlarger.pipeline import transform
from tests.imaging import BLUE, GREEN, RED, animation, coloured_frames, decode, quadrants, save
from tests.test_codecs import BUILDERS

ROOT = Path(__file__).resolve().parents[1]
COPYRIGHT_EXIF = "exif-ifd0-Copyright"


def test_every_format_literal_has_exactly_one_row() -> None:
    assert [spec.name for spec in REGISTRY] == list(get_args(Format))
    assert {spec.name for spec in REGISTRY if spec.writable} == set(get_args(Writable))
    assert len({spec.media_type for spec in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("case", list(BUILDERS))
def test_each_sample_matches_its_own_magic_and_no_other(case: str) -> None:
    expected, build = BUILDERS[case]
    data = build()
    assert [spec.name for spec in REGISTRY if spec.magic(data)] == [expected]


def test_svg_magic_matches_only_svg() -> None:
    data = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
    assert [spec.name for spec in REGISTRY if spec.magic(data)] == ["svg"]


def test_the_format_option_accepts_exactly_the_registry_names() -> None:
    assert FORMATS == formats.REQUESTABLE
    assert FORMATS[0] == "auto" and FORMATS[-2:] == ("json", "placeholder")
    for name in FORMATS[1:-2]:
        chosen = formats.writable_named(name)
        assert chosen is not None and name in spec_of(chosen).requested_as
        assert parse_options(f"format={name}").format == name
    assert formats.writable_named("tiff") is None  # read, never written


@pytest.mark.parametrize("fmt", get_args(Writable))
def test_a_writable_format_is_what_an_explicit_request_produces(fmt: Writable) -> None:
    result = transform(save(quadrants(40, 20), "png"), f"width=20,format={fmt}")
    assert result.format == fmt
    assert codecs.sniff(result.data) == fmt
    assert result.media_type == spec_of(fmt).media_type


@pytest.mark.parametrize("fmt", get_args(Writable))
def test_the_alpha_column_says_whether_transparency_survives(fmt: Writable) -> None:
    source = save(quadrants(40, 20, alpha=True) * [1, 1, 1, 0.5], "png")
    decoded = decode(transform(source, f"format={fmt}").data)
    assert bool(decoded.hasalpha()) is spec_of(fmt).alpha


@pytest.mark.parametrize("fmt", get_args(Writable))
def test_the_animation_column_says_whether_frames_survive(fmt: Writable) -> None:
    source = animation(coloured_frames(24, 16, [RED, GREEN, BLUE]))
    result = transform(source, f"format={fmt}")
    # a format that cannot animate answers with one frame, or (AVIF) with WebP, which can
    assert (result.frames == 3) is (result.format in formats.ANIMATED)


@pytest.mark.parametrize("fmt", get_args(Writable))
def test_the_metadata_column_says_whether_the_copyright_is_written(fmt: Writable) -> None:
    image = quadrants(40, 20).copy()
    image.set_type(pyvips.GValue.gstr_type, COPYRIGHT_EXIF, "ACME")
    source = bytes(image.jpegsave_buffer())
    output = transform(source, f"format={fmt},metadata=copyright").data
    fields = decode(output).get_fields()
    assert (COPYRIGHT_EXIF in fields) is spec_of(fmt).metadata


@pytest.mark.parametrize("case", list(BUILDERS))
def test_the_end_column_finds_the_exact_end_where_passthrough_relies_on_it(case: str) -> None:
    data = BUILDERS[case][1]()
    spec = spec_of(codecs.sniff(data))
    assert image_end(data + b"tail") == (len(data) if spec.end is not None else None)
    assert spec.passthrough is (spec.writable and spec.end is not None)


def test_without_a_request_writable_sources_keep_their_format_and_others_get_a_legacy_one() -> None:
    for spec in REGISTRY:
        header = codecs.Header(spec.name, 10, 10, 1, False, 100)
        chosen = choose_format(None, header, Accept(), animated=False)
        if spec.name == "svg":
            assert chosen == "svg"
        else:
            assert chosen == (spec.name if spec.writable else "jpeg"), spec.name


def test_cli_suffixes_name_requestable_formats() -> None:
    assert formats.SUFFIXES[".jpg"] == formats.SUFFIXES[".jpeg"] == "jpeg"
    assert set(formats.SUFFIXES.values()) <= set(formats.REQUESTABLE)


def test_the_unsupported_message_lists_every_format() -> None:
    listed = formats.supported_list()
    assert all(spec.label in listed for spec in REGISTRY)


def test_docs_name_only_places_that_exist() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    text = text[text.index("## Formats: the registry") :]
    paths = set(re.findall(r"`((?:src|tests|docs)/[\w/.]+\.(?:py|md))", text))
    assert paths, "docs/architecture.md's Formats section lists no files"
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []
