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

from enlarger import url_overlay
from enlarger.catalog.store import Account, Image, Variant
from enlarger.errors import FlexibleVariantsDisabledError, NotFoundError
from enlarger.options import Options, parse_url_options
from enlarger.security.signing import signed_expiry, verify
from enlarger.server.hints import apply_hints
from enlarger.server.hosted_outputs import auto_format, browser_ttl, hosted_output, variant_options
from enlarger.server.hosting_service import HostingService
from enlarger.server.outputs import Services, respond
from enlarger.server.purge import variant_tag

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
        return variant_options(variant)
    if not account.flexible_variants:
        raise FlexibleVariantsDisabledError(
            f"no variant named {name!r}, and flexible variants (options in the URL) are not enabled for the account"
        )
    if image.require_signed:
        raise FlexibleVariantsDisabledError(
            "this image requires signed URLs, and flexible variants (options in the URL) cannot deliver it: "
            "use a named variant"
        )
    return auto_format(parse_url_options(name))


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
    ttl = browser_ttl(account, variant, services.settings.cache_control_max_age)
    output = await hosted_output(
        service,
        account,
        image,
        hinted.options,
        cache_control=_cache_control(image, query, ttl),
        vary=hinted.vary,
        tags=(variant_tag(account.id, variant.id),) if variant else (),
        head=request.method == "HEAD",
        signed=signed,
    )
    await service.usage.transformation(account.id, image.id, hinted.options)  # usage accounting (issue 17)
    response = await respond(request, services, output)
    if not output.head:  # usage accounting (issue 17)
        service.usage.delivered(account.id, response.status_code, len(response.body))
    return response
