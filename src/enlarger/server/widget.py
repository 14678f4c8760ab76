"""``/widget/v1/upload.js``: the upload widget, a script other sites include.

Served with CORS and ``Cross-Origin-Resource-Policy: cross-origin`` so any page may load it (as a
classic script or a module); it holds no secret — uploads are authorised by the one-time URL the
host application's backend asks for (docs/widget.md).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

SCRIPT = Path(__file__).resolve().parent.parent / "web" / "widget" / "upload.js"


async def upload_js(_request: Request) -> Response:
    return FileResponse(
        SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def upload_preflight(request: Request) -> Response:
    """CORS preflight for one-time upload URLs: browsers send one before any upload that reports progress.

    (An XHR with upload listeners is never a "simple" request.) The URL's secret still authorises
    the POST itself; this only tells the browser that any page may make it.
    """
    requested = request.headers.get("access-control-request-headers", "")
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Max-Age": "600",
    }
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
    return Response(status_code=204, headers=headers)


def routes() -> list[Route]:
    return [
        Route("/widget/v1/upload.js", upload_js, methods=["GET", "HEAD"]),
        Route("/upload/{secret}", upload_preflight, methods=["OPTIONS"]),
    ]
