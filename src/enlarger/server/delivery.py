"""Hosted image delivery: ``/<account_hash>/<image_id>/<variant>`` (and ``/cdn-cgi/imagedelivery/...``).

The catalog decides *whether* and *what*: the image exists and is not a draft, the variant (or,
when the account allows them, flexible options) gives the transformation, and a signature is
checked when the image requires one. The output then goes through the same serving core
(:mod:`enlarger.server.outputs`) as transform-by-URL; the source identity is the account and the
original's content hash, so an unchanged original re-uses cached outputs across restarts, and one
account's deliveries never reveal (by a cache hit or a shared ETag) that another holds the same bytes.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from enlarger.binding import url_overlay
from enlarger.catalog.store import Account, Image, Variant
from enlarger.errors import FlexibleVariantsDisabledError, NotFoundError, SignatureError
from enlarger.options import Options, parse_options, parse_url_options
from enlarger.security.signing import signed_expiry, verify
from enlarger.server.hints import apply_hints
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run
from enlarger.server.outputs import OutputRequest, Services, respond
from enlarger.server.overlays import with_overlay
from enlarger.server.purge import image_tag, variant_tag
from enlarger.sources import Located

CUSTOM_DOMAIN_PREFIX = "/cdn-cgi/imagedelivery"


def _split(rest: str) -> tuple[str, str]:
    cut = url_overlay.slash_outside_parentheses(rest, last=True)  # flexible draw=url(a/b) keeps its slash
    image_id, variant = (rest[:cut], rest[cut + 1 :]) if cut >= 0 else ("", rest)
    if not image_id or not variant:
        raise NotFoundError("delivery URLs look like /<account_hash>/<image_id>/<variant>")
    return image_id, variant


def _options(account: Account, image: Image, variant: Variant | None, name: str) -> Options:
    """Variant options (delivered in the best format the browser takes), or flexible options.

    Flexible variants never serve an image that requires signed URLs, even with a valid
    signature (enable-flexible-variants.mdx): its owner decides its sizes through named variants.
    """
    if variant is not None:
        return parse_options({"format": "auto", **variant.options})
    if not account.flexible_variants:
        raise FlexibleVariantsDisabledError(
            f"no variant named {name!r}, and flexible variants (options in the URL) are not enabled for the account"
        )
    if image.require_signed:
        raise FlexibleVariantsDisabledError(
            "this image requires signed URLs, and flexible variants (options in the URL) cannot deliver it: "
            "use a named variant"
        )
    options = parse_url_options(name)
    return options if options.format else options.replace(format="auto")


SWR = 7200  # "public, max-age=N, stale-while-revalidate=7200" (browser-ttl.mdx)


def _cache_control(image: Image, query: str, max_age: int) -> str:
    """Public for open images, for the browser TTL ``max_age``; private and no longer than the
    signature lives for signed ones (browser-ttl.mdx: private images ignore TTL settings)."""
    if not image.require_signed:
        return f"public, max-age={max_age}, stale-while-revalidate={SWR}"
    expires = signed_expiry(query) if "sig=" in query else None
    if expires is not None:
        max_age = max(0, min(max_age, expires - int(time.time())))
    return f"private, max-age={max_age}"


def _browser_ttl(account: Account, variant: Variant | None, default: int) -> int:
    """The variant's browser TTL, else the account's, else the server's default (browser-ttl.mdx)."""
    if variant is not None and variant.browser_ttl is not None:
        return variant.browser_ttl
    return account.browser_ttl if account.browser_ttl is not None else default


def _signed_paths(request: Request, account_hash: str, image_id: str, name: str) -> tuple[str, str]:
    """The path as sent (percent-encoded, as Cloudflare's signers sign it) and decoded; never the prefix."""
    raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
    return raw.removeprefix(CUSTOM_DOMAIN_PREFIX), f"/{account_hash}/{image_id}/{name}"


async def endpoint(request: Request) -> Response:
    """Answer one delivery URL (errors are rendered by the route's guard)."""
    service: HostingService = request.app.state.hosting
    services: Services = request.app.state.services
    image_id, name = _split(request.path_params["rest"])
    found = await service.target(request.path_params["account_hash"], image_id, name)
    account, image, variant = found.account, found.image, found.variant
    query = request.scope["query_string"].decode("latin-1")
    signed = image.require_signed and not (variant and variant.never_require_signed)
    if signed:
        verify(_signed_paths(request, account.hash, image_id, name), query, found.keys)
    hinted = apply_hints(_options(account, image, variant, name), request.headers)

    async def read() -> bytes:
        return await service.original(image)

    tags = (image_tag(account.id, image.id),) + ((variant_tag(account.id, variant.id),) if variant else ())
    output = OutputRequest(
        hinted.options,
        Located(f"hosted:{account.id}:{image.content_hash}", read, None),
        hinted.vary,
        tags=tags,
        cache_control=_cache_control(
            image, query, _browser_ttl(account, variant, services.settings.cache_control_max_age)
        ),
        head=request.method == "HEAD",
    )
    drawn = url_overlay.source(hinted.options)  # draw=<id>: deleting that image purges these outputs too
    overlay_tags = (image_tag(account.id, drawn),) if drawn else ()
    output = await with_overlay(
        output, lambda overlay_id: hosted_overlay(service, account, overlay_id, signed=signed), overlay_tags
    )
    await service.usage.transformation(account.id, image.id, hinted.options)  # usage accounting (issue 17)
    response = await respond(request, services, output)
    if not output.head:  # usage accounting (issue 17)
        service.usage.delivered(account.id, response.status_code, len(response.body))
    return response


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
