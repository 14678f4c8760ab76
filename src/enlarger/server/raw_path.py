"""Routes are chosen by the path as sent, not as decoded: ``/%63dn-cgi/image/…`` is not
``/cdn-cgi/image/…``.

The router matches the percent-decoded path, so a route prefix spelled with escapes reached the
route while a proxy rule written for the literal prefix (deny, rate-limit, cache) never saw it.
The part of the path that picks the route — a known prefix, or else the first segment (an
account hash) — must be sent literally: names that need no escaping are never escaped by a
well-behaved client. Anything else gets 400 (``Cf-Resized: err=9424``) before any route runs;
escapes later in the path (image ids, options) are untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from enlarger.errors import EscapedRouteError
from enlarger.server.errors import error_response

#: the prefixes that pick a route family; other paths are routed by their first segment
PREFIXES = ("/cdn-cgi/imagedelivery/", "/cdn-cgi/image/", "/client/v4/", "/dashboard/", "/upload/", "/widget/")


def route_part(path: str) -> str:
    """The leading part of a (decoded) path that decides its route."""
    for prefix in PREFIXES:
        if path.startswith(prefix):
            return prefix
    cut = path.find("/", 1)
    return path if cut < 0 else path[: cut + 1]


class LiteralRoutes:
    """Refuses requests whose route part was percent-encoded (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes | None = scope.get("raw_path") if scope["type"] == "http" else None
        if raw is not None and b"%" in raw:
            part = route_part(scope["path"])
            if not raw.decode("latin-1").startswith(part):
                error = EscapedRouteError(f"send the start of the path ({part}) as it is, without percent-escapes")
                await error_response(error, head=scope["method"] == "HEAD")(scope, receive, send)
                return
        await self.app(scope, receive, send)
