"""Font files for ``text()``: the bundled default, and fonts given by URL, fetched once and kept.

libvips renders text with Pango; a font file is handed to it as ``fontfile`` and then chosen by
its family name, which is read here from the file's ``name`` table (nothing else knows it). A font
by URL is fetched through the SSRF-safe fetcher like any source, checked to be TrueType/OpenType
(WOFF and WOFF2 web fonts, which the binding's ``font.url`` may name, are unpacked to that first:
Pango's FreeType is not built to read them), and kept on disk under its URL's hash, so each URL is
fetched once per data directory.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError

from enlarger.errors import UnsupportedFormatError

DEFAULT_FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "DejaVuSans.ttf"
#: sfnt versions of the files Pango reads through FreeType: TrueType, OpenType (CFF), Apple TrueType
_MAGIC = (b"\x00\x01\x00\x00", b"OTTO", b"true")
_FAMILY_NAME_ID = 1
_WEB_FONTS = (b"wOFF", b"wOF2")
MAX_FONT_BYTES = 20 * 1024 * 1024  #: an unpacked web font larger than this is refused


@dataclass(frozen=True)
class Font:
    """A font file and the family name that selects it."""

    path: Path
    family: str


def font_family(data: bytes) -> str:
    """The family name in a TrueType/OpenType file's ``name`` table.

    Raises :class:`~enlarger.errors.UnsupportedFormatError` for anything that is not such a file.
    """
    if data[:4] not in _MAGIC or len(data) < 12:
        raise UnsupportedFormatError("the font is not a TrueType, OpenType or web font (.ttf/.otf/.woff/.woff2)")
    try:
        (tables,) = struct.unpack_from(">H", data, 4)
        for index in range(tables):
            tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * index)
            if tag == b"name":
                return _family_from_name_table(data, offset)
    except struct.error:
        pass
    raise UnsupportedFormatError("the font file has no readable family name (its name table is missing or damaged)")


def _family_from_name_table(data: bytes, table: int) -> str:
    _format, count, strings = struct.unpack_from(">HHH", data, table)
    found: dict[int, str] = {}
    for index in range(count):
        platform, _encoding, _language, name_id, length, offset = struct.unpack_from(
            ">HHHHHH", data, table + 6 + 12 * index
        )
        if name_id != _FAMILY_NAME_ID:
            continue
        start = table + strings + offset
        raw = data[start : start + length]
        # Windows and Unicode names are UTF-16BE; Macintosh names are Mac Roman
        text = raw.decode("utf-16-be", "replace") if platform in (0, 3) else raw.decode("mac_roman", "replace")
        found.setdefault(platform, text.strip())
    for platform in (3, 0, 1):  # Pango matches the Windows (Unicode) names first
        if found.get(platform):
            return found[platform]
    raise struct.error("no family name")


def default_font() -> Font:
    """The bundled DejaVu Sans (Bitstream Vera licence, see ``assets/DejaVuSans-LICENSE.txt``)."""
    return Font(DEFAULT_FONT_FILE, "DejaVu Sans")


def cached_font_path(directory: Path, url: str) -> Path:
    """Where the font fetched from ``url`` is kept."""
    return directory / f"{hashlib.sha256(url.encode()).hexdigest()}.ttf"


def sfnt(data: bytes) -> bytes:
    """``data`` as a TrueType/OpenType file: WOFF and WOFF2 unpacked, anything else as it is."""
    if data[:4] not in _WEB_FONTS:
        return data
    try:
        font = TTFont(io.BytesIO(data), lazy=False)
        font.flavor = None
        unpacked = io.BytesIO()
        font.save(unpacked)
    except (TTLibError, struct.error, ValueError, KeyError, EOFError) as exc:
        raise UnsupportedFormatError(f"the web font could not be read ({exc})") from exc
    if unpacked.tell() > MAX_FONT_BYTES:
        raise UnsupportedFormatError(f"the web font unpacks to more than {MAX_FONT_BYTES:,} bytes")
    return unpacked.getvalue()


def store_font(directory: Path, url: str, data: bytes) -> Font:
    """Check ``data`` is a font, keep it for ``url`` (atomically, unpacked if a web font), and name its family."""
    data = sfnt(data)
    family = font_family(data)
    path = cached_font_path(directory, url)
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return Font(path, family)


def cached_font(directory: Path, url: str) -> Font | None:
    """The font kept for ``url``, if it was fetched before."""
    path = cached_font_path(directory, url)
    if not path.is_file():
        return None
    return Font(path, font_family(path.read_bytes()))
