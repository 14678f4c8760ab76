"""``draw=`` in URL options: one overlay for URLs that cannot be programmed (beyond Cloudflare).

Cloudflare offers overlays only to Workers (``cf.image.draw``, the binding's ``.draw()``). Here a
transformation URL or a named variant may add one: ``draw=<source>`` with ``draw.opacity``,
``draw.repeat``, ``draw.top|left|bottom|right`` and ``draw.width|height`` (pixels, or 0–1 of the
output), e.g. ``/cdn-cgi/image/width=800,draw=url(/marks/logo.png),draw.width=0.2,draw.bottom=10,
draw.right=10/photos/a.jpg``. Where the overlay may come from is the front door's rule: on
``/cdn-cgi/image`` the same as sources (the origin, or an allowed host), on hosted delivery and
variants a hosted image of the same account. The front door fetches it before the engine runs
(steps never fetch), then :func:`job` makes the engine's :class:`~enlarger.job.Job`.

This is engine-level URL-option logic (every URL front door and the dashboard use it), so it sits
beside :mod:`enlarger.options`, not in :mod:`enlarger.binding`: the draw options themselves are
:class:`~enlarger.options.DrawOptions` fields, and the ``draw.*`` names are derived from them.
"""

from __future__ import annotations

from enlarger.errors import OptionError
from enlarger.job import Job, Overlay
from enlarger.options import TABLE, DrawOptions, Options, outside_parentheses

#: the Options fields of the overlay (``draw`` and every ``draw.*`` option); a base's own options never include them
FIELDS: tuple[str, ...] = tuple(opt.attr for opt in TABLE if opt.name == "draw" or opt.name.startswith("draw."))
#: those that place it: the :class:`DrawOptions` fields the URL form offers, as ``draw.<name>``
_PLACEMENT = {
    opt.attr: opt.name.removeprefix("draw.")
    for opt in TABLE
    if opt.name.startswith("draw.") and opt.name.removeprefix("draw.") in DrawOptions.__dataclass_fields__
}
_DEFAULTS = Options()


def source(options: Options) -> str | None:
    """The overlay source the options name (``url(...)`` unwrapped), or None.

    Raises :class:`~enlarger.errors.OptionError` when ``draw.*`` options come without ``draw``, or
    place it on both sides of an axis.
    """
    if options.draw is None:
        extra = [name for name in FIELDS if name != "draw" and getattr(options, name) != getattr(_DEFAULTS, name)]
        if extra:
            dotted = extra[0].replace("_", ".", 1)
            raise OptionError(dotted, getattr(options, extra[0]), "draw.* options need draw=<image> to draw")
        return None
    placement(options)  # both sides of an axis: refused before anything is fetched
    text = options.draw
    return text[4:-1] if text.startswith("url(") else text


def placement(options: Options) -> DrawOptions:
    """Where and how the options place the overlay (their ``draw.*`` placement fields)."""
    return DrawOptions(**{name: getattr(options, attr) for attr, name in _PLACEMENT.items()})


def base_options(options: Options) -> Options:
    """``options`` without the overlay's."""
    return options.replace(**dict.fromkeys(FIELDS))


def job(base: bytes, options: Options, overlay: bytes) -> Job:
    """The engine job: ``base`` with ``options``, ``overlay`` (already fetched) drawn as they say.

    A size below 1 is a fraction of the base's output inside its border; the engine resolves it
    from the job's own plan (no second ``decide`` here, outside its limit and error handling)."""
    width, height = options.draw_width, options.draw_height
    pixels = Options(
        width=int(width) if width is not None and width >= 1 else None,
        height=int(height) if height is not None and height >= 1 else None,
        fit="contain",
    )
    relative_w = width if width is not None and width < 1 else None
    relative_h = height if height is not None and height < 1 else None
    return Job(base, base_options(options), (Overlay(overlay, pixels, placement(options), relative_w, relative_h),))


def slash_outside_parentheses(text: str, *, last: bool = False) -> int:
    """Index of the first (or last) ``/`` not inside ``url(...)``, or -1: a draw source may hold slashes."""
    found = outside_parentheses(text, "/")
    return (found[-1] if last else found[0]) if found else -1
