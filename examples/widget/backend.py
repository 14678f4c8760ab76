"""A host application's backend for Enlarger's upload widget, with the official ``cloudflare`` SDK.

The browser never holds an API token: it asks this backend for a one-time upload URL, and this
backend asks Enlarger (``POST /v2/direct_upload``) with its own token. Put your own checks (who
is signed in, how many uploads they may make) in ``upload_url``.

    ENLARGER_URL=http://127.0.0.1:8080 ENLARGER_ACCOUNT=<id> ENLARGER_TOKEN=enl_... \\
        uvicorn --factory examples.widget.backend:from_environment --port 8000
"""

from __future__ import annotations

import os
from pathlib import Path

from cloudflare import Cloudflare
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

PAGE = Path(__file__).with_name("index.html")


def create_app(enlarger_url: str, account_id: str, token: str) -> Starlette:
    client = Cloudflare(api_token=token, base_url=f"{enlarger_url.rstrip('/')}/client/v4")

    def upload_url(_request: Request) -> JSONResponse:  # sync: Starlette runs it in a thread
        upload = client.images.v2.direct_uploads.create(account_id=account_id, metadata={"source": "widget"})
        return JSONResponse({"id": upload.id, "uploadURL": upload.upload_url})

    def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8").replace("{{ENLARGER_URL}}", enlarger_url.rstrip("/")))

    return Starlette(routes=[Route("/", page), Route("/upload-url", upload_url, methods=["POST"])])


def from_environment() -> Starlette:
    return create_app(os.environ["ENLARGER_URL"], os.environ["ENLARGER_ACCOUNT"], os.environ["ENLARGER_TOKEN"])
