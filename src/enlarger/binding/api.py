"""The binding in Python: ``Images`` mirrors Workers' ``env.IMAGES``, call for call.

``await images.info(data)``; ``images.input(data).transform({...}).draw(other, {...}).output(format=...)``;
``images.text("…", size=24)`` as a drawable (or a canvas); ``images.hosted`` for stored images. As in
Workers, output and draw consume a transformer (using it again is error 9525), methods that only
describe work return at once, and the work happens on ``await``: sources are fetched first (an
overlay's URL through the SSRF-safe fetcher, a hosted id from storage, a text's font), then the
pixels are made on a worker thread (or through the server's admission control).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio.to_thread

from enlarger import codecs, deadline
from enlarger.binding import fonts
from enlarger.binding.errors import ImagesError, Operation, consumed
from enlarger.binding.graph import Draw, Node, Transform, draw_options, output_options, recipe, transform_options
from enlarger.binding.hosted import HostedImages, Offload
from enlarger.binding.render import Env, Rendered, render
from enlarger.binding.text import TextSource, text_source
from enlarger.errors import (
    EnlargerError,
    InvalidSourceError,
    NotFoundError,
    OriginNotAllowedError,
    TransformTimeoutError,
)
from enlarger.hosting import Hosting, ImageChanges
from enlarger.pipeline import image_placeholders, readable_input
from enlarger.security.fetch import Fetched, Fetcher, origin_matcher
from enlarger.settings import Settings
from enlarger.usage import Usage

T = TypeVar("T")


def info_of(data: bytes, settings: Settings) -> dict[str, Any]:
    """The binding's ``info()`` answer: ``{format, fileSize, width, height}`` (``{format}`` alone for SVG),
    and, with ``json_placeholders`` on, the image's ``blurhash``, ``thumbhash`` and ``dominant_color``
    (from a copy of at most 100 pixels a side, as format=json; left out when its pixels cannot be
    decoded: the header's facts stay useful, and transforming the image reports the damage)."""
    readable = readable_input(data, settings)
    header = readable.header
    if header.format == "svg":
        return {"format": header.media_type}
    # the limits every other door applies (one frame: an animation over the total is still delivered)
    codecs.check_limits(header, settings, all_frames=False)
    described: dict[str, Any] = {
        "format": header.media_type,
        "fileSize": len(data),
        "width": header.width,
        "height": header.height,
    }
    if settings.json_placeholders:
        try:
            marks = image_placeholders(readable, settings=settings, timeout=settings.transform_timeout)
        except TransformTimeoutError:
            raise
        except EnlargerError:
            return described
        described.update(marks.as_dict())
    return described


async def _in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


class Images:
    """One binding: settings, where URLs may be fetched from, and (for ``hosted``) an account's images.

    ``run`` runs blocking work (the server passes its admission control); ``fetcher`` defaults to one
    built from the settings (close it with :meth:`aclose`). URL sources must be on ``allowed_hosts``.
    ``changes`` is the hosted images' mutation path: the server passes its ``HostingService`` (which
    forgets lookups and purges cached outputs); without it ``hosting`` is changed directly.
    With ``usage`` and an account, each output counts as a unique transformation of that account
    (the same sources and parameters once; ``info`` is free), as Cloudflare bills the binding.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        fetcher: Fetcher | None = None,
        hosting: Hosting | None = None,
        account_id: str | None = None,
        base_url: str = "",
        run: Offload | None = None,
        changes: ImageChanges | None = None,
        usage: Usage | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._own_fetcher = fetcher is None
        self._fetcher = fetcher
        self._hosting = hosting
        self._changes = changes
        self._usage = usage
        self._account_id = account_id
        self._base_url = base_url or self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"
        self._run: Offload = run or _in_thread
        self._allow_url = origin_matcher(self.settings.allowed_hosts)

    async def aclose(self) -> None:
        if self._own_fetcher and self._fetcher is not None:
            await self._fetcher.aclose()

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher.from_settings(self.settings)  # as the server's
        return self._fetcher

    @property
    def hosted(self) -> HostedImages:
        """Hosted images of this binding's account (needs ``hosting`` and ``account_id``)."""
        if self._hosting is None or self._account_id is None:
            raise ImagesError("this binding has no hosted images: give it hosting and an account", code=9432)
        return HostedImages(self._hosting, self._account_id, self._run, self._base_url, self._changes)

    async def info(self, data: bytes) -> dict[str, Any]:
        """Format, size in bytes and dimensions of ``data`` (9412 if it is not an image)."""
        try:
            return await self._run(lambda: info_of(data, self.settings))
        except EnlargerError as exc:
            raise ImagesError.wrap(exc, "INFO") from exc

    def input(self, data: bytes) -> ImageTransformer:
        """A transformer over the image ``data`` (identified by its bytes)."""
        return ImageTransformer(self, bytes(data))

    def text(self, content: str, options: Mapping[str, object] | None = None, **kwargs: object) -> ImageTransformer:
        """A transformer over rendered text: ``font`` (``{url}`` or the URL of a TTF/OTF/WOFF/WOFF2
        file; default DejaVu Sans), ``size`` (points, at 72 dpi: pixels),
        ``color``, ``width`` (wrap, px), ``align`` (left | centre | right)."""
        return ImageTransformer(
            self, _checked("TRANSFORM", lambda: text_source(content, {**(options or {}), **kwargs}))
        )

    async def render(self, node: Node, output: Any, *, timeout: float | None = None) -> Rendered:
        """Fetch what ``node`` names (fonts), then render it (for callers holding a built tree)."""
        fonts_needed = await self._fonts(node)
        limit = self.settings.transform_timeout if timeout is None else timeout

        def work() -> Rendered:
            # one limit around the whole chain (every engine job nests in it); it starts when a
            # worker picks the job up, as for URL transformations
            with deadline.limit(limit or None):
                return render(node, output, Env(self.settings, fonts_needed))

        try:
            if self._usage is not None and self._account_id is not None:
                key = hashlib.sha256(recipe(node, output).encode()).hexdigest()
                await self._usage.unique(self._account_id, key)  # past the quota: 429/9422
            return await self._run(work)
        except EnlargerError as exc:
            raise ImagesError.wrap(exc, "TRANSFORM") from exc

    async def _resolve(self, transformer: ImageTransformer) -> Node:
        """The transformer's tree with every hosted id and URL replaced by its bytes."""
        source = transformer._source
        if isinstance(source, str):
            source = await self._fetch_source(source)
        steps: list[Transform | Draw] = []
        for step in transformer._steps:
            if isinstance(step, _PendingDraw):
                steps.append(Draw(await self._resolve(step.child), step.place, step.own))
            else:
                steps.append(step)
        return Node(source, tuple(steps))

    async def _fetch_source(self, source: str) -> bytes:
        if source.lower().startswith(("http://", "https://")):
            return (await self._fetch_allowed(source)).data
        if self._hosting is None or self._account_id is None:
            raise InvalidSourceError(f"{source!r} is not an http(s) URL, and this binding has no hosted images")
        hosting, account = self._hosting, self._account_id
        try:
            row = await self._run(lambda: hosting.catalog.image(account, source))
        except NotFoundError:
            raise NotFoundError(f"there is no hosted image {source!r} to draw") from None
        return await self._run(lambda: hosting.original(row))

    async def _fetch_allowed(self, url: str) -> Fetched:
        """``url`` fetched if ``allowed_hosts`` lets it (the first URL only; its redirects are followed)."""
        if not self._allow_url(url):
            raise OriginNotAllowedError(f"{url} is not in allowed origins (see the allowed_hosts setting)")
        return await self.fetcher.fetch(url)

    async def _fonts(self, node: Node) -> dict[str | None, fonts.Font]:
        found: dict[str | None, fonts.Font] = {None: fonts.default_font()}
        for text in _texts(node):
            if text.font is not None and text.font not in found:
                found[text.font] = await self.font(text.font)
        return found

    async def font(self, url: str) -> fonts.Font:
        """The font at ``url``: from the font cache, else fetched (allowed hosts only) and kept."""
        directory = self.settings.data_dir / "fonts"
        cached = await self._run(lambda: fonts.cached_font(directory, url))
        if cached is not None:
            return cached
        if not url.lower().startswith(("http://", "https://")):
            raise InvalidSourceError(f"a font is given by its http(s) URL, not {url!r}")
        data = (await self._fetch_allowed(url)).data
        return await self._run(lambda: fonts.store_font(directory, url, data))


def _texts(node: Node) -> list[TextSource]:
    found = [node.source] if isinstance(node.source, TextSource) else []
    for step in node.steps:
        if isinstance(step, Draw):
            found.extend(_texts(step.child))
    return found


def _checked(operation: Operation, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except EnlargerError as exc:
        raise ImagesError.wrap(exc, operation) from exc


class _PendingDraw:
    """A draw whose child may still name a hosted id or URL (resolved on output)."""

    def __init__(self, child: ImageTransformer, place: Any, own: dict[str, object]) -> None:
        self.child, self.place, self.own = child, place, own


class ImageTransformer:
    """``images.input(data)``: ``transform`` and ``draw`` in any order, then ``output`` once."""

    def __init__(self, images: Images, source: bytes | TextSource | str) -> None:
        self._images = images
        self._source = source
        self._steps: list[Transform | _PendingDraw] = []
        self._consumed = False

    def transform(self, options: Mapping[str, Any] | None = None, **kwargs: Any) -> ImageTransformer:
        """Apply ``options`` (the binding's ``.transform()`` object) to the result so far."""
        self._steps.append(Transform(_checked("TRANSFORM", lambda: transform_options({**(options or {}), **kwargs}))))
        return self

    def draw(
        self, image: bytes | ImageTransformer | str, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ImageTransformer:
        """Draw ``image`` on the result so far: ``opacity``, ``repeat``, ``composite``, ``top``/``left``/
        ``bottom``/``right``, and the overlay's own ``width``/``height`` (pixels, or 0–1 of the base),
        ``fit``, ``gravity``, ``background``, ``rotate``. ``image`` is bytes, a transformer (consumed),
        a hosted image id, or an http(s) URL on the allowed hosts."""
        place, own = _checked("TRANSFORM", lambda: draw_options({**(options or {}), **kwargs}))
        if isinstance(image, ImageTransformer):
            image._consume()
            child = image
        elif isinstance(image, (bytes, bytearray, memoryview, str)):
            child = ImageTransformer(self._images, image if isinstance(image, str) else bytes(image))
        else:
            raise ImagesError(
                f"cannot draw a {type(image).__name__}: give bytes, a transformer, an id or a URL", code=9401
            )
        self._steps.append(_PendingDraw(child, place, own))
        return self

    async def output(
        self, format: str | None = None, *, quality: object = None, background: object = None, anim: object = None
    ) -> Rendered:
        """Encode the result: ``format`` (``image/avif|webp|jpeg|png|gif``, ``rgb``, ``rgba``) is required."""
        self._consume()
        output = _checked("TRANSFORM", lambda: output_options(format, quality, background, anim))
        try:
            node = await self._images._resolve(self)
        except EnlargerError as exc:
            raise ImagesError.wrap(exc, "TRANSFORM") from exc
        return await self._images.render(node, output)

    def _consume(self) -> None:
        if self._consumed:
            raise consumed()
        self._consumed = True
