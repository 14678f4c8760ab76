"""What a hosted image's output is: its options, its serving-core request and its browser TTL.

Delivery, the dashboard's previews and account page, and the images API's config all answer
these questions; each answer is written once here, so the dashboard cannot show another TTL
than delivery sends, nor preview a variant otherwise than delivery makes it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from enlarger import url_overlay
from enlarger.catalog.store import Account, Image, Variant
from enlarger.errors import NotFoundError, SignatureError
from enlarger.options import Options, parse_options
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run
from enlarger.server.outputs import OutputRequest
from enlarger.server.overlays import with_overlay
from enlarger.server.purge import image_tag
from enlarger.settings import PerSettings, Settings
from enlarger.sources import Located


def browser_ttl(account: Account, variant: Variant | None, default: int) -> int:
    """The variant's browser TTL, else the account's, else the server's default (browser-ttl.mdx)."""
    if variant is not None and variant.browser_ttl is not None:
        return variant.browser_ttl
    return account.browser_ttl if account.browser_ttl is not None else default


def preserves_credentials(account: Account, settings: Settings) -> bool:
    """Whether the account's hosted images keep Content Credentials through transformations: its
    ``preserve_content_credentials`` (PATCH /images/v1/config), else the server's ``c2pa_preserve``.
    Each variant's ``metadata`` still decides per output (copyright and keep keep them)."""
    chosen = account.preserve_content_credentials
    return settings.c2pa_preserve if chosen is None else chosen


#: the server's settings with C2PA preservation on, and off: an account whose choice differs from
#: the server's gets one of these objects (the same one every time, so C2PA's per-settings memos and
#: the cache key's credentials token stay as cheap as for the server's own)
_PRESERVING = PerSettings(lambda settings: dataclasses.replace(settings, c2pa_preserve=True))
_NOT_PRESERVING = PerSettings(lambda settings: dataclasses.replace(settings, c2pa_preserve=False))


def account_settings(account: Account, settings: Settings) -> Settings | None:
    """The settings an account's outputs are made under when its choice differs from the server's
    (None: the server's)."""
    wanted = preserves_credentials(account, settings)
    if wanted == settings.c2pa_preserve:
        return None
    return _PRESERVING(settings) if wanted else _NOT_PRESERVING(settings)


def variant_options(variant: Variant) -> Options:
    """A variant's options, delivered in the best format the browser takes (``format=auto``)."""
    # stored options are the scalar values of fit, width, height, metadata and draw.* (api_images._variant_from)
    return _variant_options(variant.id, tuple(sorted(variant.options.items())))


@functools.lru_cache(maxsize=4096)
def _variant_options(_variant_id: str, stored: tuple[tuple[str, Any], ...]) -> Options:
    # memoised by the stored options: parsing them on every delivery hit cost 19-31 µs (review 2,
    # bench); an edited variant has other stored options, so it is parsed afresh
    return parse_options({"format": "auto", **dict(stored)})


def auto_format(options: Options) -> Options:
    """Options given without a format are delivered in the best one the browser takes."""
    return options if options.format else options.replace(format="auto")


async def hosted_output(
    service: HostingService,
    account: Account,
    image: Image,
    options: Options,
    *,
    cache_control: str,
    vary: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    head: bool = False,
    signed: bool = False,
) -> OutputRequest:
    """The serving core's request for ``image`` made with ``options``: the original keyed by the
    account and its content hash (one tenant's first delivery of bytes another delivered is a miss,
    never a hit that tells it so), purged with the image (and ``tags``), and a ``draw=<id>`` overlay
    read from the account's hosted images (deleting that image purges these outputs too); a private
    overlay only into a ``signed`` output (see :func:`hosted_overlay`)."""

    async def read() -> bytes:
        return await service.original(image)

    output = OutputRequest(
        options,
        Located(f"hosted:{account.id}:{image.content_hash}", read, None),
        vary,
        tags=(image_tag(account.id, image.id), *tags),
        cache_control=cache_control,
        head=head,
        settings=account_settings(account, service.hosting.settings),
    )
    drawn = url_overlay.source(options)
    overlay_tags = (image_tag(account.id, drawn),) if drawn else ()
    return await with_overlay(
        output, lambda overlay_id: hosted_overlay(service, account, overlay_id, signed=signed), overlay_tags
    )


async def hosted_overlay(service: HostingService, account: Account, image_id: str, *, signed: bool) -> Located:
    """A draw= overlay on delivery (and dashboard previews): a hosted image of the same account.

    An image that requires signed URLs is drawn only into an output whose own URL was signed
    (``signed``: verified, or the signed-in owner's preview); otherwise it is refused like a
    direct unsigned request for it (403/9425) — its id is in every signed URL ever handed out,
    so naming it must not be enough to see it.
    """
    catalog = service.hosting.catalog
    try:
        overlay = await run(lambda: catalog.image(account.id, image_id))
    except NotFoundError:
        raise NotFoundError(f"there is no hosted image {image_id!r} to draw") from None
    if overlay.require_signed and not signed:
        raise SignatureError(f"the image {image_id!r} requires signed URLs: it is drawn only into a signed URL")

    async def read() -> bytes:
        return await service.original(overlay)

    return Located(f"hosted:{account.id}:{overlay.content_hash}", read, None)
