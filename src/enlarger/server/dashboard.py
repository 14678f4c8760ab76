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
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enlarger.catalog.store import Account
from enlarger.errors import (
    AuthenticationError,
    EnlargerError,
    NotFoundError,
    PermissionDeniedError,
    ProcessingError,
    RequestError,
)
from enlarger.options import Options, parse_options
from enlarger.security.signing import sign_url
from enlarger.server import api_images, transform_url
from enlarger.server.api_envelope import answer, envelope, failure, flag, read_json, run
from enlarger.server.errors import error_response
from enlarger.server.hosted import Hosted
from enlarger.server.purge import image_tag
from enlarger.sources import Located

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
logger = logging.getLogger("enlarger.server")


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its secret, so nothing needs storing."""
    return hmac.new(token.encode(), b"enlarger-dashboard-csrf", hashlib.sha256).hexdigest()


class _Secured:
    """Adds the security headers (CSP first) to every response under /dashboard."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in _SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, add_headers)


class Dashboard:
    """The dashboard's routes over the shared services."""

    def __init__(self, hosted: Hosted, services: transform_url.Services) -> None:
        self.hosted = hosted
        self.services = services
        self.catalog = hosted.hosting.catalog
        self.settings = hosted.hosting.settings
        self.images_api = Router(routes=api_images.routes(hosted))

    def routes(self) -> list[BaseRoute]:
        endpoints: list[tuple[str, str, Callable[[Request, Account, str], Awaitable[Response]]]] = [
            ("/api/account", "GET", self.account),
            ("/api/account", "PATCH", self.account_edit),
            ("/api/tokens", "GET", self.tokens),
            ("/api/tokens", "POST", self.token_create),
            ("/api/tokens/{token_id}", "DELETE", self.token_revoke),
            ("/api/usage", "GET", self.usage),
            ("/api/search", "GET", self.search),
            ("/api/sign", "POST", self.sign),
        ]
        inner = Router(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Mount("/static", app=StaticFiles(directory=WEB, follow_symlink=False)),
                Route("/session", self.sign_in, methods=["POST"]),
                Route("/session", self.whoami, methods=["GET"]),
                Route("/session", self.sign_out, methods=["DELETE"]),
                Route("/api/preview", self.preview, methods=["GET"]),
                *(Route(path, self._api(handler), methods=[method]) for path, method, handler in endpoints),
                Mount("/api/images", app=self.proxy),
            ]
        )
        return [
            Route("/dashboard", lambda _request: RedirectResponse("/dashboard/", status_code=308)),
            Mount("/dashboard", app=_Secured(inner)),
        ]

    # --- the page
    async def index(self, _request: Request) -> Response:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    # --- sessions
    async def session(self, request: Request) -> tuple[Account, str]:
        """The signed-in account and its token; changes also need the CSRF header and a same-origin request."""
        token = request.cookies.get(COOKIE, "")
        if not token:
            raise AuthenticationError("you are not signed in")
        owner = await run(self.catalog.token_account, token)
        if owner is None:
            raise AuthenticationError("your session has ended (the token was revoked); sign in again")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
                raise PermissionDeniedError("cross-site request refused")
            if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf_token(token)):
                raise PermissionDeniedError("missing or wrong X-CSRF-Token header; reload the page")
        return await run(self.catalog.account, owner), token

    def _api(self, handler: Callable[[Request, Account, str], Awaitable[Response]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            async def work() -> Response:
                account, token = await self.session(request)
                response = await handler(request, account, token)
                response.headers["Cache-Control"] = "no-store"
                return response

            return await answer(work, request)

        return endpoint

    async def sign_in(self, request: Request) -> Response:
        async def work() -> Response:
            body = await read_json(request)
            token = str(body.get("token", "")).strip()
            if not token:
                raise RequestError("enter an API token")
            owner = await run(self.catalog.token_account, token)
            if owner is None:
                raise PermissionDeniedError("this token is not valid (unknown or revoked)")
            account = await run(self.catalog.account, owner)
            response = envelope({"account": self._account_json(account), "csrf": csrf_token(token)})
            secure = request.url.scheme == "https" or self.settings.public_url.startswith("https://")
            response.set_cookie(
                COOKIE,
                token,
                max_age=self.settings.dashboard_session_seconds,
                path="/dashboard",
                secure=secure,
                httponly=True,
                samesite="strict",
            )
            response.headers["Cache-Control"] = "no-store"
            return response

        return await answer(work, request)

    async def whoami(self, request: Request) -> Response:
        """Who is signed in — ``{"account": null}`` (not an error status) when nobody is."""

        async def work() -> Response:
            result: dict[str, Any]
            try:
                account, token = await self.session(request)
                result = {"account": self._account_json(account), "csrf": csrf_token(token)}
            except AuthenticationError:
                result = {"account": None, "csrf": None}
            response = envelope(result)
            response.headers["Cache-Control"] = "no-store"
            return response

        return await answer(work, request)

    async def sign_out(self, request: Request) -> Response:
        async def work() -> Response:
            await self.session(request)
            response = envelope({})
            response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
            return response

        return await answer(work, request)

    # --- the images API, as the signed-in account
    async def proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            account, token = await self.session(request)
        except EnlargerError as error:
            await failure(error)(scope, receive, send)
            return
        rest = scope["path"].split("/dashboard/api/images", 1)[1]
        path = api_images.PREFIX.replace("{account_id}", account.id) + rest
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"cookie")]
        headers.append((b"authorization", f"Bearer {token}".encode()))
        forwarded = {**scope, "path": path, "raw_path": quote(path).encode(), "root_path": "", "headers": headers}
        await self.images_api(forwarded, receive, send)

    # --- what the API has no endpoint for
    def _account_json(self, account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "hash": account.hash,
            "name": account.name,
            "flexible_variants": account.flexible_variants,
            "browser_ttl": self.settings.cache_control_max_age,
            "max_upload_bytes": self.settings.max_upload_bytes,
        }

    async def account(self, _request: Request, account: Account, _token: str) -> Response:
        return envelope(self._account_json(account))

    async def account_edit(self, request: Request, account: Account, _token: str) -> Response:
        body = await read_json(request)
        unknown = set(body) - {"flexible_variants"}
        if unknown:
            raise RequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
        if "flexible_variants" in body:
            enabled = flag(body["flexible_variants"], "flexible_variants")
            account = await run(self.catalog.set_flexible_variants, account.id, enabled)
            self.hosted.forget()
        return envelope(self._account_json(account))

    async def tokens(self, _request: Request, account: Account, _token: str) -> Response:
        found = await run(self.catalog.tokens, account.id)
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

    async def token_create(self, request: Request, account: Account, _token: str) -> Response:
        name = str((await read_json(request)).get("name", ""))[:200]
        token, secret = await run(self.catalog.create_token, account.id, name)
        return envelope({"id": token.id, "name": token.name, "token": secret})

    async def token_revoke(self, request: Request, account: Account, _token: str) -> Response:
        token_id = request.path_params["token_id"]
        owned = await run(self.catalog.tokens, account.id)
        if not any(t.id == token_id for t in owned):
            raise NotFoundError(f"no token with id {token_id!r}")
        await run(self.catalog.revoke_token, token_id)
        return envelope({"id": token_id, "revoked": True})

    async def usage(self, request: Request, account: Account, _token: str) -> Response:
        days = api_images._int_param(request, "days", 30, 1, 366)
        summary = await self.hosted.usage.summary(account.id)
        return envelope({"summary": summary, "days": await self.hosted.usage.history(account.id, days)})

    async def search(self, request: Request, account: Account, _token: str) -> Response:
        per_page = api_images._int_param(request, "per_page", 50, *_SEARCH_PER_PAGE)
        order = request.query_params.get("sort_order", "desc")
        if order not in ("asc", "desc"):
            raise RequestError(f"sort_order must be asc or desc, got {order!r}")
        text = request.query_params.get("q", "").strip()[:200]
        token = request.query_params.get("continuation_token") or None
        found = await run(self.catalog.search, account.id, text, token, per_page, order == "desc")
        delivery = await self.hosted.delivery(request, account)
        return envelope(
            {"images": [delivery.record(i) for i in found.images], "continuation_token": found.continuation_token}
        )

    async def sign(self, request: Request, account: Account, _token: str) -> Response:
        body = await read_json(request)
        image_id, variant = str(body.get("image_id", "")), str(body.get("variant", ""))
        expires_in = body.get("expires_in", 3600)
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 0 <= expires_in <= 31_536_000:
            raise RequestError("expires_in must be a whole number of seconds from 0 (never) to 31536000 (a year)")
        await run(self.catalog.image, account.id, image_id)
        keys = await run(self.catalog.keys, account.id)
        expires = int(time.time()) + expires_in if expires_in else None
        signed = sign_url(keys[0].value, f"/{account.hash}/{image_id}/{variant}", expires=expires)
        return envelope({"url": self.hosted.base_url(request) + signed, "key": keys[0].name, "expires": expires})

    async def preview(self, request: Request) -> Response:
        """A variant's (or unsaved options') output for the owner: no signature needed, not counted as usage."""
        try:
            account, _ = await self.session(request)
            image = await run(self.catalog.image, account.id, request.query_params.get("id", ""))
            options = await self._preview_options(account, request)

            async def read() -> bytes:
                return await run(self.hosted.hosting.original, image)

            return await transform_url.respond(
                request,
                self.services,
                options,
                (),
                Located(f"hosted:{image.content_hash}", read, None),
                False,
                tags=(image_tag(account.id, image.id),),
                cache_control="private, max-age=300",
            )
        except EnlargerError as error:
            return error_response(error)
        except Exception:  # a bug, not the user's fault: log it, answer 500, keep serving
            logger.exception("unexpected failure for a dashboard preview")
            return error_response(ProcessingError("an internal error stopped this preview"))

    async def _preview_options(self, account: Account, request: Request) -> Options:
        variant = request.query_params.get("variant")
        if variant:
            found = await run(self.catalog.variant, account.id, variant)
            return parse_options({"format": "auto", **found.options})
        options = parse_options(request.query_params.get("options", ""))
        return options if options.format else options.replace(format="auto")
