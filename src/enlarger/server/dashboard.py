"""``/dashboard``: the operator's web UI, served by the same process from files inside the package.

Sign-in exchanges an API token (typed once, sent in a POST body — never in a URL or a log line)
for a session cookie that holds it: ``HttpOnly`` (no script reads it), ``SameSite=Strict``,
``Path=/dashboard``, ``Secure`` under https. Every request checks the token against the catalog
again, so revoking it ends the session at once, on every replica, with no session store or
shared secret. Requests that change something must also carry ``X-CSRF-Token``: an HMAC of the
token that only a page able to read the sign-in answer (same origin) can know.

The page's code calls the images API through ``/dashboard/api/images/...``, which forwards to
the real API handlers with the session's token as the bearer token — one implementation of
every rule. The few things the API has no endpoint for (tokens, account settings, usage history,
search, signing, previews) are thin endpoints here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enlarger.catalog.store import Account
from enlarger.errors import AuthenticationError, EnlargerError, PermissionDeniedError, RequestError
from enlarger.options import Options, parse_options
from enlarger.security.signing import sign_url
from enlarger.server import api_images
from enlarger.server.bodies import flag, int_param, read_json
from enlarger.server.envelope import envelope, enveloped, failure
from enlarger.server.guard import guarded
from enlarger.server.guesses import guesses
from enlarger.server.hosted_outputs import auto_format, browser_ttl, hosted_output, variant_options
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run
from enlarger.server.outputs import Services, respond

WEB = Path(__file__).resolve().parent.parent / "web" / "dashboard"
COOKIE = "enlarger_session"
CSRF_HEADER = "x-csrf-token"
#: no inline script or style, nothing from another site, no framing
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_SEARCH_PER_PAGE = (1, 100)


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its secret, so nothing needs storing."""
    return hmac.new(token.encode(), b"enlarger-dashboard-csrf", hashlib.sha256).hexdigest()


class _Secured:
    """Adds the security headers (CSP first) to every response under /dashboard — its 404s and
    405s too, which the routers raise as exceptions and would otherwise be answered outside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, add_headers)
        except HTTPException as refused:  # no route, no file, wrong method: raised before any answer
            answer = PlainTextResponse(f"{refused.detail}\n", refused.status_code, headers=refused.headers)
            await answer(scope, receive, add_headers)


Handler = Callable[[Request, Account, str], Awaitable[Response]]


def _hosting(request: Request) -> HostingService:
    service: HostingService = request.app.state.hosting
    return service


# --- the page
async def index(_request: Request) -> Response:
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


# --- sessions
async def session(request: Request) -> tuple[Account, str]:
    """The signed-in account and its token; changes also need the CSRF header and a same-origin request."""
    catalog = _hosting(request).hosting.catalog
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise AuthenticationError("you are not signed in")
    client = guesses(request).check(request)  # a cookie is one more place to guess tokens
    owner = await run(catalog.token_account, token)
    if owner is None:
        guesses(request).failed(client)
        raise AuthenticationError("your session has ended (the token was revoked); sign in again")
    if request.method not in ("GET", "HEAD"):
        _same_origin(request)
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf_token(token)):
            raise PermissionDeniedError("missing or wrong X-CSRF-Token header; reload the page")
    return await run(catalog.account, owner), token


def _same_origin(request: Request) -> None:
    """Refuse a browser's request sent by a page of another origin (CSRF, login CSRF included).

    Browsers say where a request comes from in ``Sec-Fetch-Site`` and ``Origin`` (sent on every
    POST, PATCH and DELETE); a client that sends neither is no browser, so no page can be abusing
    it. The origin may be the one this request came to or that of ``public_url`` (a proxy in front).
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise PermissionDeniedError(f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    public = urlsplit(_hosting(request).hosting.settings.public_url)
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    if public.netloc:
        allowed.add(f"{public.scheme}://{public.netloc}")
    if origin.rstrip("/") not in allowed:
        raise PermissionDeniedError("cross-site request refused")


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in JSON endpoint: the session checked, never cached, errors in the v4 envelope."""

    async def endpoint(request: Request) -> Response:
        account, token = await session(request)
        response = await handler(request, account, token)
        response.headers["Cache-Control"] = "no-store"
        return response

    return guarded(endpoint, enveloped)


async def sign_in(request: Request) -> Response:
    service = _hosting(request)
    catalog, settings = service.hosting.catalog, service.hosting.settings
    _same_origin(request)  # login CSRF: another site's form must not sign the browser into its account
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise RequestError("send the sign-in as JSON (Content-Type: application/json)", status=415)
    body = await read_json(request)
    token = str(body.get("token", "")).strip()
    if not token:
        raise RequestError("enter an API token")
    client = guesses(request).check(request)  # 429 while this address has failed too often
    owner = await run(catalog.token_account, token)
    if owner is None:
        guesses(request).failed(client)
        raise PermissionDeniedError("this token is not valid (unknown or revoked)")
    account = await run(catalog.account, owner)
    response = envelope({"account": _account_json(service, account), "csrf": csrf_token(token)})
    secure = request.url.scheme == "https" or settings.public_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.dashboard_session_seconds,
        path="/dashboard",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def whoami(request: Request) -> Response:
    """Who is signed in — ``{"account": null}`` (not an error status) when nobody is."""
    result: dict[str, Any]
    try:
        account, token = await session(request)
        result = {"account": _account_json(_hosting(request), account), "csrf": csrf_token(token)}
    except AuthenticationError:
        result = {"account": None, "csrf": None}
    response = envelope(result)
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out(request: Request) -> Response:
    await session(request)
    response = envelope({})
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
    return response


# --- the images API, as the signed-in account
_IMAGES_API = Router(routes=api_images.routes())  # the proxy runs the API's own handlers


async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        account, token = await session(request)
    except EnlargerError as error:
        await failure(error)(scope, receive, send)
        return
    rest = scope["path"].split("/dashboard/api/images", 1)[1]
    path = api_images.PREFIX.replace("{account_id}", account.id) + rest
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"cookie")]
    headers.append((b"authorization", f"Bearer {token}".encode()))
    forwarded = {**scope, "path": path, "raw_path": quote(path).encode(), "root_path": "", "headers": headers}
    await _IMAGES_API(forwarded, receive, send)


# --- what the API has no endpoint for
def _account_json(service: HostingService, account: Account) -> dict[str, Any]:
    settings = service.hosting.settings
    return {
        "id": account.id,
        "hash": account.hash,
        "name": account.name,
        "flexible_variants": account.flexible_variants,
        "browser_ttl": browser_ttl(account, None, settings.cache_control_max_age),  # what delivery sends
        "max_upload_bytes": settings.max_upload_bytes,
    }


async def account_get(request: Request, account: Account, _token: str) -> Response:
    return envelope(_account_json(_hosting(request), account))


async def account_edit(request: Request, account: Account, _token: str) -> Response:
    service = _hosting(request)
    body = await read_json(request)
    unknown = set(body) - {"flexible_variants"}
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "flexible_variants" in body:
        enabled = flag(body["flexible_variants"], "flexible_variants")
        account = await service.set_flexible_variants(account.id, enabled)
    return envelope(_account_json(service, account))


async def tokens(request: Request, account: Account, _token: str) -> Response:
    found = await run(_hosting(request).hosting.catalog.tokens, account.id)
    return envelope(
        [
            {
                "id": t.id,
                "name": t.name,
                "created": t.created.isoformat(),
                "revoked": t.revoked.isoformat() if t.revoked else None,
            }
            for t in found
        ]
    )


async def token_create(request: Request, account: Account, _token: str) -> Response:
    name = str((await read_json(request)).get("name", ""))[:200]
    token, secret = await run(_hosting(request).hosting.catalog.create_token, account.id, name)
    return envelope({"id": token.id, "name": token.name, "token": secret})


async def token_revoke(request: Request, account: Account, _token: str) -> Response:
    catalog = _hosting(request).hosting.catalog
    token_id = request.path_params["token_id"]
    await run(catalog.revoke_token, token_id, account.id)  # its own tokens only: another's is not found
    return envelope({"id": token_id, "revoked": True})


async def usage(request: Request, account: Account, _token: str) -> Response:
    recorder = _hosting(request).usage
    days = int_param(request, "days", 30, 1, 366)
    summary = await recorder.summary(account.id)
    return envelope({"summary": summary, "days": await recorder.history(account.id, days)})


async def search(request: Request, account: Account, _token: str) -> Response:
    service = _hosting(request)
    per_page = int_param(request, "per_page", 50, *_SEARCH_PER_PAGE)
    order = request.query_params.get("sort_order", "desc")
    if order not in ("asc", "desc"):
        raise RequestError(f"sort_order must be asc or desc, got {order!r}")
    text = request.query_params.get("q", "").strip()[:200]
    token = request.query_params.get("continuation_token") or None
    found = await run(service.hosting.catalog.search, account.id, text, token, per_page, order == "desc")
    records = await service.records(request, account)
    return envelope(
        {"images": [records.record(i) for i in found.images], "continuation_token": found.continuation_token}
    )


async def sign(request: Request, account: Account, _token: str) -> Response:
    service = _hosting(request)
    catalog = service.hosting.catalog
    body = await read_json(request)
    image_id, variant = str(body.get("image_id", "")), str(body.get("variant", ""))
    expires_in = body.get("expires_in", 3600)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 0 <= expires_in <= 31_536_000:
        raise RequestError("expires_in must be a whole number of seconds from 0 (never) to 31536000 (a year)")
    await run(catalog.image, account.id, image_id)
    keys = await run(catalog.keys, account.id)
    expires = int(time.time()) + expires_in if expires_in else None
    signed = sign_url(keys[0].value, f"/{account.hash}/{image_id}/{variant}", expires=expires)
    return envelope({"url": service.base_url(request) + signed, "key": keys[0].name, "expires": expires})


async def preview(request: Request) -> Response:
    """A variant's (or unsaved options') output for the owner: no signature needed, not counted as usage."""
    service = _hosting(request)
    services: Services = request.app.state.services
    account, _ = await session(request)
    image = await run(service.hosting.catalog.image, account.id, request.query_params.get("id", ""))
    options = await _preview_options(service, account, request)
    # made as delivery makes it (draw=<id> included), but private to the owner, who sees private
    # overlays as a signed URL would
    output = await hosted_output(service, account, image, options, cache_control="private, max-age=300", signed=True)
    return await respond(request, services, output)


async def _preview_options(service: HostingService, account: Account, request: Request) -> Options:
    variant = request.query_params.get("variant")
    if variant:
        return variant_options(await run(service.hosting.catalog.variant, account.id, variant))
    return auto_format(parse_options(request.query_params.get("options", "")))


_ENDPOINTS: list[tuple[str, str, Handler]] = [
    ("/api/account", "GET", account_get),
    ("/api/account", "PATCH", account_edit),
    ("/api/tokens", "GET", tokens),
    ("/api/tokens", "POST", token_create),
    ("/api/tokens/{token_id}", "DELETE", token_revoke),
    ("/api/usage", "GET", usage),
    ("/api/search", "GET", search),
    ("/api/sign", "POST", sign),
]


def routes() -> list[BaseRoute]:
    """``/dashboard`` and everything under it, behind the security headers."""
    inner = Router(
        routes=[
            Route("/", index, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=WEB, follow_symlink=False)),
            Route("/session", guarded(sign_in, enveloped), methods=["POST"]),
            Route("/session", guarded(whoami, enveloped), methods=["GET"]),
            Route("/session", guarded(sign_out, enveloped), methods=["DELETE"]),
            Route("/api/preview", guarded(preview), methods=["GET"]),
            *(Route(path, _api(handler), methods=[method]) for path, method, handler in _ENDPOINTS),
            Mount("/api/images", app=proxy),
        ]
    )
    return [
        Route("/dashboard", lambda _request: RedirectResponse("/dashboard/", status_code=308)),
        Mount("/dashboard", app=_Secured(inner)),
    ]
