"""``/client/v4/accounts/{account_id}/images/...``: Cloudflare Images' management API.

Each handler authenticates the bearer token against the account in the path, does one catalog
operation (in a worker thread) and answers with the v4 envelope; every typed error becomes the
envelope's ``errors`` entry with its status, in :func:`authenticated`.

The batch API (images-batch.mdx) is the same handlers under ``/images/v1…`` and ``/images/v2…``
(Cloudflare serves them at ``batch.imagedelivery.net``), authorised by a short-lived batch
token from ``GET /v1/batch_token`` instead of an API token: the token names the account.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from enlarger.catalog.filters import ImageFilter, parse_meta_filters
from enlarger.catalog.store import Account, Variant
from enlarger.errors import (
    AuthenticationError,
    PermissionDeniedError,
    RequestError,
)
from enlarger.hosting import (
    check_browser_ttl,
    check_creator,
    direct_upload_expiry,
)
from enlarger.options import BY_NAME, parse_options
from enlarger.records import timestamp
from enlarger.server.bodies import file_bytes, file_name, flag, int_param, new_image, read_form, read_json
from enlarger.server.envelope import envelope, enveloped
from enlarger.server.guard import guarded
from enlarger.server.guesses import guesses
from enlarger.server.hosted_outputs import browser_ttl, preserves_credentials
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run

PREFIX = "/client/v4/accounts/{account_id}/images"
BATCH_PREFIX = "/images"
BATCH_TOKEN_LIFETIME = timedelta(hours=1)
V1_PAGE = 100  # "List up to 100 images with one request" (SDK images.v1.list)
V2_PAGE = 1000  # "with up to 1000 results per page" (SDK images.v2.list)
_VARIANT_ID = re.compile(r"^[A-Za-z0-9]{1,99}$")
_KEY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
_VARIANT_FITS = ("scale-down", "contain", "cover", "crop", "pad")
#: beyond Cloudflare: a variant may draw an overlay (a hosted image of the account; docs/binding.md)
_DRAW_OPTIONS = frozenset(name for name in BY_NAME if name == "draw" or name.startswith("draw."))

Handler = Callable[[Request, HostingService, Account], Awaitable[Response]]
Authenticator = Callable[[Request, HostingService], Awaitable[Account]]


def _endpoint(handler: Handler, authenticate: Authenticator) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, then run ``handler``; the guard maps errors to the envelope — for every API route."""

    async def endpoint(request: Request) -> Response:
        service: HostingService = request.app.state.hosting
        return await handler(request, service, await authenticate(request, service))

    return guarded(endpoint, enveloped)


def _bearer(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationError("missing or malformed Authorization header: send 'Authorization: Bearer <token>'")
    return secret.strip()


async def _authenticate(request: Request, service: HostingService) -> Account:
    secret = _bearer(request)
    account_id = request.path_params["account_id"]
    client = guesses(request).check(request)  # 429 while this address has failed too often
    owner = await run(service.hosting.catalog.token_account, secret)
    if owner is None or owner != account_id:
        guesses(request).failed(client)
        raise PermissionDeniedError("Authentication error: the token is not valid for this account")
    return await run(service.hosting.catalog.account, account_id)


def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind an API token for the account in the path (other modules' API routes use it)."""
    return _endpoint(handler, _authenticate)


async def _authenticate_batch(request: Request, service: HostingService) -> Account:
    """Batch routes carry no account in the path: the (unexpired) batch token names it."""
    secret = _bearer(request)
    client = guesses(request).check(request)
    owner = await run(service.hosting.catalog.batch_token_account, secret)
    if owner is None:
        guesses(request).failed(client)
        raise PermissionDeniedError("Authentication error: the batch token is unknown or expired; get a new one")
    return await run(service.hosting.catalog.account, owner)


def _page_size(request: Request, most: int) -> int:
    """``per_page``: at least 10; more than the documented page size is served as that size."""
    return min(int_param(request, "per_page", most, 10, 1_000_000), most)


def _creator_filter(request: Request) -> str | None:
    """``creator=x`` lists x's images, ``creator=`` (empty) those without a creator, no parameter all."""
    creator = request.query_params.get("creator")
    return creator if creator == "" else check_creator(creator)


# --- images
async def upload(request: Request, service: HostingService, account: Account) -> Response:
    limit = service.hosting.settings.max_upload_bytes
    form = await read_form(request, limit)
    file, url = form.get("file"), form.get("url")
    if (file is None) == (url is None):
        raise RequestError("send exactly one of 'file' (the image) or 'url' (where to fetch it)")
    if isinstance(file, UploadFile):
        data, filename = await file_bytes(file, limit), file_name(file)
    elif isinstance(url, str):
        fetched = await service.fetcher.fetch(url, max_bytes=limit)
        data, filename = fetched.data, urlsplit(url).path.rsplit("/", 1)[-1]
    else:
        raise RequestError("'file' must be a file part and 'url' a text field")
    records = await service.records(request, account)  # read before the commit: nothing after it can fail
    image = await service.upload(account.id, data, new_image(form, filename))
    return envelope(records.record(image))


async def list_v1(request: Request, service: HostingService, account: Account) -> Response:
    page = int_param(request, "page", 1, 1, 1_000_000)
    per_page = _page_size(request, V1_PAGE)
    where = ImageFilter(creator=_creator_filter(request))
    found = await run(service.hosting.catalog.page, account.id, page, per_page, where)
    records = await service.records(request, account)
    info = {"page": page, "per_page": per_page, "count": len(found.images), "total_count": found.total}
    return envelope({"images": [records.record(i) for i in found.images]}, result_info=info)


async def list_v2(request: Request, service: HostingService, account: Account) -> Response:
    per_page = _page_size(request, V2_PAGE)
    order = request.query_params.get("sort_order", "desc")
    if order not in ("asc", "desc"):
        raise RequestError(f"sort_order must be asc or desc, got {order!r}")
    token = request.query_params.get("continuation_token") or None
    where = ImageFilter(_creator_filter(request), parse_meta_filters(request.query_params.multi_items()))
    found = await run(service.hosting.catalog.after, account.id, token, per_page, order == "desc", where)
    records = await service.records(request, account)
    images = [records.record(i) for i in found.images]
    return envelope({"images": images, "continuation_token": found.continuation_token})


async def details(request: Request, service: HostingService, account: Account) -> Response:
    image_id = request.path_params["image_id"]
    image = await run(lambda: service.hosting.catalog.image(account.id, image_id, drafts=True))
    return envelope((await service.records(request, account)).record(image))


async def edit(request: Request, service: HostingService, account: Account) -> Response:
    body = await read_json(request)
    unknown = set(body) - {"metadata", "requireSignedURLs", "creator"}
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    image_id = request.path_params["image_id"]
    changes: dict[str, object] = {}  # checked by Hosting.edit_image, as the binding's edits are
    if "metadata" in body:
        changes["meta"] = body["metadata"]
    if "requireSignedURLs" in body:
        changes["require_signed"] = flag(body["requireSignedURLs"], "requireSignedURLs")
    if "creator" in body:
        changes["creator"] = body["creator"]
    image = await service.edit_image(account.id, image_id, changes)
    return envelope((await service.records(request, account)).record(image))


async def remove(request: Request, service: HostingService, account: Account) -> Response:
    image_id = request.path_params["image_id"]
    await service.delete_image(account.id, image_id)
    return envelope({})


async def blob(request: Request, service: HostingService, account: Account) -> Response:
    """The original bytes, exactly as uploaded — so sandboxed: an unsanitized SVG must not run if opened."""
    image = await run(service.hosting.catalog.image, account.id, request.path_params["image_id"])
    data = await service.original(image)
    headers = {
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "attachment" if image.content_type == "image/svg+xml" else "inline",
    }
    return Response(data, media_type=image.content_type, headers=headers)


async def stats(_request: Request, service: HostingService, account: Account) -> Response:
    current = await run(service.hosting.catalog.count_images, account.id)
    usage = await service.usage.summary(account.id)  # usage accounting (issue 17): fields beside Cloudflare's
    return envelope({"count": {"current": current, "allowed": service.hosting.settings.image_quota}, **usage})


async def batch_token(_request: Request, service: HostingService, account: Account) -> Response:
    """A token for the batch API (images-batch.mdx): ``{"token", "expiresAt"}``, valid one hour."""
    token, expires = await run(service.hosting.catalog.create_batch_token, account.id, BATCH_TOKEN_LIFETIME)
    return envelope({"token": token, "expiresAt": timestamp(expires)})


def _config_json(account: Account, service: HostingService) -> dict[str, Any]:
    settings = service.hosting.settings
    ttl = browser_ttl(account, None, settings.cache_control_max_age)
    return {
        "flexible_variants": account.flexible_variants,
        "browser_ttl": ttl,
        "preserve_content_credentials": preserves_credentials(account, settings),
    }


async def config_get(_request: Request, service: HostingService, account: Account) -> Response:
    return envelope(_config_json(account, service))


async def config_edit(request: Request, service: HostingService, account: Account) -> Response:
    """``PATCH /v1/config``: ``flexible_variants`` (enable-flexible-variants.mdx), the account's
    ``browser_ttl`` (browser-ttl.mdx) and ``preserve_content_credentials`` (hosted-images/
    preserve-content-credentials.mdx); ``null`` goes back to the server's default."""
    body = await read_json(request)
    fields = ("flexible_variants", "browser_ttl", "preserve_content_credentials")
    unknown = set(body) - set(fields)
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}; use {', '.join(fields)}")
    changes: dict[str, Any] = {}
    if "flexible_variants" in body:
        changes["flexible_variants"] = flag(body["flexible_variants"], "flexible_variants")
    if "browser_ttl" in body:
        changes["browser_ttl"] = None if body["browser_ttl"] is None else check_browser_ttl(body["browser_ttl"])
    if "preserve_content_credentials" in body:
        value = body["preserve_content_credentials"]
        if value is not None and not isinstance(value, bool):
            raise RequestError(f"preserve_content_credentials must be true, false or null, got {value!r}")
        changes["preserve_content_credentials"] = value
    return envelope(_config_json(await service.update_account(account.id, changes), service))


async def direct_upload(request: Request, service: HostingService, account: Account) -> Response:
    form = await read_form(request, 64 * 1024)
    raw_expiry = form.get("expiry")
    expiry = None
    if isinstance(raw_expiry, str) and raw_expiry:
        try:
            expiry = datetime.fromisoformat(raw_expiry.replace("Z", "+00:00"))
        except ValueError:
            raise RequestError(f"expiry must be an RFC 3339 date-time, got {raw_expiry!r}") from None
        if expiry.tzinfo is None:
            raise RequestError("expiry must carry a time zone (e.g. 2025-01-01T12:00:00Z)")
    expires = direct_upload_expiry(expiry)
    draft, secret = await service.reserve(account.id, new_image(form, ""), expires)
    return envelope({"id": draft.id, "uploadURL": f"{service.base_url(request)}/upload/{secret}"})


# --- variants
def _variant_from(body: dict[str, Any], variant_id: str, current: Variant | None = None) -> Variant:
    if not _VARIANT_ID.match(variant_id):
        raise RequestError(f"invalid variant id {variant_id!r}: 1–99 letters and digits")
    options = body.get("options", _variant_json(current)["options"] if current else None)
    if not isinstance(options, dict):
        raise RequestError("options must be an object with fit, width, height, metadata and browser_ttl")
    unknown = set(options) - {"fit", "width", "height", "metadata", "browser_ttl"} - _DRAW_OPTIONS
    if unknown:
        raise RequestError(f"unknown variant option(s): {', '.join(sorted(unknown))}")
    if options.get("fit", "scale-down") not in _VARIANT_FITS:
        raise RequestError(f"fit must be one of {', '.join(_VARIANT_FITS)}, got {options.get('fit')!r}")
    transform = {name: value for name, value in options.items() if name != "browser_ttl"}
    parsed = parse_options(transform)  # the option table validates ranges and types
    clean = {name: getattr(parsed, BY_NAME[name].attr) for name in transform}
    # browser-ttl.mdx: a variant's browser_ttl overrides the account's and the default
    ttl = None if options.get("browser_ttl") is None else check_browser_ttl(options["browser_ttl"])
    never = body.get("neverRequireSignedURLs", current.never_require_signed if current else False)
    return Variant(variant_id, clean, flag(never, "neverRequireSignedURLs"), ttl)


def _variant_json(variant: Variant) -> dict[str, Any]:
    ttl = {} if variant.browser_ttl is None else {"browser_ttl": variant.browser_ttl}
    return {
        "id": variant.id,
        "options": {**variant.options, **ttl},
        "neverRequireSignedURLs": variant.never_require_signed,
    }


async def variant_create(request: Request, service: HostingService, account: Account) -> Response:
    body = await read_json(request)
    variant = _variant_from(body, str(body.get("id", "")))
    await service.add_variant(account.id, variant)
    return envelope({"variant": _variant_json(variant)})


async def variant_list(_request: Request, service: HostingService, account: Account) -> Response:
    found = await run(service.hosting.catalog.variants, account.id)
    return envelope({"variants": {v.id: _variant_json(v) for v in found}})


async def variant_get(request: Request, service: HostingService, account: Account) -> Response:
    variant = await run(service.hosting.catalog.variant, account.id, request.path_params["variant_id"])
    return envelope({"variant": _variant_json(variant)})


async def variant_edit(request: Request, service: HostingService, account: Account) -> Response:
    variant_id = request.path_params["variant_id"]
    current = await run(service.hosting.catalog.variant, account.id, variant_id)
    variant = _variant_from(await read_json(request), variant_id, current)
    await service.edit_variant(account.id, variant)
    return envelope({"variant": _variant_json(variant)})


async def variant_delete(request: Request, service: HostingService, account: Account) -> Response:
    variant_id = request.path_params["variant_id"]
    if variant_id == "public":
        raise RequestError("the public variant cannot be deleted (change its options instead)")
    await service.delete_variant(account.id, variant_id)
    return envelope({})


# --- signing keys
def _keys_json(keys: list[Any]) -> dict[str, Any]:
    return {"keys": [{"name": k.name, "value": k.value} for k in keys]}


async def key_list(_request: Request, service: HostingService, account: Account) -> Response:
    return envelope(_keys_json(await run(service.hosting.catalog.keys, account.id)))


async def key_put(request: Request, service: HostingService, account: Account) -> Response:
    name = request.path_params["name"]
    if not _KEY_NAME.match(name):
        raise RequestError(f"invalid key name {name!r}: 1–20 letters, digits, - and _")
    keys = await service.put_key(account.id, name)
    return envelope(_keys_json(keys))


async def key_delete(request: Request, service: HostingService, account: Account) -> Response:
    keys = await service.delete_key(account.id, request.path_params["name"])
    return envelope(_keys_json(keys))


def routes() -> list[Route]:
    """The API's and the batch API's routes; fixed paths come before the path-like image IDs they would
    otherwise match, and the batch routes (``/images/…``) before delivery's ``/<account_hash>/…``."""
    table: list[tuple[str, str, Handler]] = [
        ("/v1", "POST", upload),
        ("/v1", "GET", list_v1),
        ("/v2", "GET", list_v2),
        ("/v2/direct_upload", "POST", direct_upload),
        ("/v1/stats", "GET", stats),
        ("/v1/config", "GET", config_get),
        ("/v1/config", "PATCH", config_edit),
        ("/v1/batch_token", "GET", batch_token),
        ("/v1/variants", "POST", variant_create),
        ("/v1/variants", "GET", variant_list),
        ("/v1/variants/{variant_id}", "GET", variant_get),
        ("/v1/variants/{variant_id}", "PATCH", variant_edit),
        ("/v1/variants/{variant_id}", "DELETE", variant_delete),
        ("/v1/keys", "GET", key_list),
        ("/v1/keys/{name}", "PUT", key_put),
        ("/v1/keys/{name}", "DELETE", key_delete),
        ("/v1/{image_id:path}/blob", "GET", blob),
        ("/v1/{image_id:path}", "GET", details),
        ("/v1/{image_id:path}", "PATCH", edit),
        ("/v1/{image_id:path}", "DELETE", remove),
    ]
    batch: list[tuple[str, str, Handler]] = [  # the operations images-batch.mdx lists
        ("/v1", "POST", upload),
        ("/v2", "GET", list_v2),
        ("/v2/direct_upload", "POST", direct_upload),
        ("/v1/{image_id:path}", "GET", details),
        ("/v1/{image_id:path}", "PATCH", edit),
        ("/v1/{image_id:path}", "DELETE", remove),
    ]
    return [
        Route(PREFIX + path, _endpoint(handler, _authenticate), methods=[method]) for path, method, handler in table
    ] + [
        Route(BATCH_PREFIX + path, _endpoint(handler, _authenticate_batch), methods=[method])
        for path, method, handler in batch
    ]
