"""Choosing the output format: explicit request, ``format=auto`` from ``Accept``, or the source family.

The choice depends only on (requested format, Accept, source facts), so the server can tell
whether a response varies on ``Accept`` by asking :func:`depends_on_accept`.
"""

from __future__ import annotations

from dataclasses import dataclass

from enlarger import formats
from enlarger.codecs import Header
from enlarger.formats import Output, Writable


@dataclass(frozen=True)
class Accept:
    """The image types a client accepts (q > 0), parsed once from the ``Accept`` header."""

    avif: bool = False
    webp: bool = False
    jxl: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Accept:
        if not header:
            return cls()
        accepted: set[str] = set()
        for item in header.split(","):
            media, *params = (p.strip() for p in item.split(";"))
            q = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            if q > 0:
                accepted.add(media.lower())
        return cls(avif="image/avif" in accepted, webp="image/webp" in accepted, jxl="image/jxl" in accepted)

    def token(self, *, jxl_auto: bool) -> str:
        """What of ``Accept`` can change a ``format=auto`` answer, for the output cache key. JPEG XL
        is named only when it can be the answer (``jxl_auto``) and is accepted, so the keys of every
        other client stay as they were, and turning ``jxl_auto`` on or off changes the keys of those
        it affects."""
        return f"avif={int(self.avif)},webp={int(self.webp)}" + (",jxl=1" if jxl_auto and self.jxl else "")


def legacy_format(header: Header, *, animated: bool) -> Writable:
    """The best format every browser decodes: GIF for animations, PNG for alpha or graphics, else JPEG."""
    if animated:
        return "gif"
    if header.has_alpha or header.format in ("png", "gif"):
        return "png"
    return "jpeg"


def choose_format(
    requested: str | None,
    header: Header,
    accept: Accept,
    *,
    animated: bool,
    fast: bool = False,
    jxl: bool = False,
) -> Output:
    """Resolve the output format. ``animated``: the request keeps more than one frame; ``jxl``:
    ``format=auto`` may answer JPEG XL (the ``jxl_auto`` setting), first when ``Accept`` lists it.

    ``requested`` is the ``format`` option's value (see :data:`enlarger.formats.REQUESTABLE`);
    without one, a writable source keeps its own format and any other gets :func:`legacy_format`.
    """
    if requested == "json":
        return "json"
    if requested == "placeholder":
        return "webp"  # a tiny blurred WebP of the output (see pipeline.placeholder)
    if header.format == "svg" and requested in (None, "auto"):
        return "svg"  # scalable: every size is the same (sanitized) document
    if fast and requested in (None, "auto", "webp", "avif"):
        return legacy_format(header, animated=animated)
    if requested == "auto":
        if jxl and accept.jxl and not animated:
            return "jxl"
        if accept.avif and not animated:
            return "avif"
        if accept.webp:
            return "webp"
        return legacy_format(header, animated=animated)
    if requested == "avif" and animated:
        return "webp"  # libheif cannot write animated AVIF: WebP is the documented fallback
    if requested is not None:
        named = formats.writable_named(requested)  # baseline-jpeg is JPEG, written without interlace
        if named is None:
            raise ValueError(f"format {requested!r} is not one of {formats.REQUESTABLE}")  # options validated it
        return named
    return header.format if formats.is_writable(header.format) else legacy_format(header, animated=animated)


def avif_limit(requested: str | None, avif_max_side: int, avif_max_side_explicit: int) -> int:
    """The longest side written as AVIF: Cloudflare's hard limits (1,200 px; 1,600 px when
    ``format=avif`` is asked for by name), from settings."""
    return avif_max_side_explicit if requested == "avif" else avif_max_side


def avif_fallback(requested: str | None, header: Header, accept: Accept, *, animated: bool) -> Writable:
    """The format of an output too large for AVIF: WebP ("images that cannot be compressed as AVIF
    will be served as WebP") when AVIF was named or the client takes WebP, else the legacy format."""
    if requested == "avif" or accept.webp:
        return "webp"
    return legacy_format(header, animated=animated)


def depends_on_accept(requested: str | None, fast: bool = False) -> bool:
    """Whether the chosen format can change with ``Accept`` (and the response must ``Vary`` on it)."""
    return requested == "auto" and not fast
