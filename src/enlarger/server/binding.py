"""``POST /transform`` and ``POST /info``: the Images binding's backend, on its own listener.

workerd's ``cloudflare-internal:images-api`` module (the runtime's ``env.IMAGES``) posts a
multipart form to ``https://js.images.cloudflare.com/{transform,info}`` through the binding's
``fetcher``; point that fetcher here and a Worker's ``env.IMAGES`` runs on Enlarger. Answers are
what the module expects: the image with its ``Content-Type``, the ``info`` JSON (``file_size``),
or on failure ``cf-images-binding: err=NNNN`` with the body ``ERROR NNNN: message`` (the Worker
then sees ``ImagesError`` with that code).

These routes take untrusted bytes and do work on demand, without an account or a cache: they are
never on the public listener. ``binding_listen`` opens them on an address of their own (see
docs/binding.md for protecting it); the work goes through the same admission control, limits and
time limit as every transformation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from enlarger.binding.api import Images
from enlarger.binding.errors import ImagesError, Operation
from enlarger.binding.wire import MAX_IMAGES, read_info, read_transform
from enlarger.errors import EnlargerError, RequestError
from enlarger.server.bodies import bounded
from enlarger.server.errors import log_error
from enlarger.server.guard import guarded
from enlarger.settings import Settings, SettingsError

HEADER = "cf-images-binding"
Endpoint = Callable[[Request], Awaitable[Response]]


def failure(error: EnlargerError, operation: Operation) -> Response:
    """The binding's error answer: the code in ``cf-images-binding``, ``ERROR NNNN: message`` as body."""
    log_error(error)
    wrapped = ImagesError.wrap(error, operation)
    headers = {HEADER: f"err={wrapped.code}", "Cache-Control": "no-store"}
    return PlainTextResponse(f"ERROR {wrapped.code}: {wrapped.message}", status_code=wrapped.status, headers=headers)


def _guarded(operation: Operation, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind the shared error wrapper, answering in the binding's form (a bug is 500/9523)."""
    return guarded(endpoint, lambda error, _request: failure(error, operation))


async def _form(request: Request, images: Images) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise RequestError("send the binding's multipart/form-data body")
    limit = images.settings.max_input_bytes
    try:
        # a canvas and overlays: the whole body is bounded by what the images may add up to
        form: FormData = await bounded(request, limit).form(max_files=MAX_IMAGES, max_fields=MAX_IMAGES + 16)
        return form
    except EnlargerError:
        raise
    except Exception as exc:  # the multipart parser's own errors: the body is malformed
        raise RequestError(f"could not read the form: {exc}") from exc


async def transform(request: Request) -> Response:
    images: Images = request.app.state.images
    form = await _form(request, images)
    node, output = await read_transform(form, images.settings.max_input_bytes)
    rendered = await images.render(node, output)
    return Response(rendered.data, media_type=rendered.content_type, headers={"Cache-Control": "no-store"})


async def info(request: Request) -> Response:
    images: Images = request.app.state.images
    form = await _form(request, images)
    data = await read_info(form, images.settings.max_input_bytes)
    described = await images.info(data)
    if "fileSize" in described:  # the wire spelling; the module renames it to fileSize
        described["file_size"] = described.pop("fileSize")
    return JSONResponse(described, headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/transform", _guarded("TRANSFORM", transform), methods=["POST"]),
    Route("/info", _guarded("INFO", info), methods=["POST"]),
]


def create_app(images: Images) -> Starlette:
    """The binding backend over ``images`` (whose ``run`` should be the server's admission)."""
    app = Starlette(routes=ROUTES)
    app.state.images = images
    return app


def listen_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8081`` for IPv6) of ``binding_listen``; SettingsError for anything else."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"setting binding_listen must be host:port (e.g. 127.0.0.1:8081), got {text!r}")
    return host, int(port)


def servers(main: ASGIApp, settings: Settings, **config: Any) -> list[uvicorn.Server]:
    """The main listener and, with ``binding_listen``, the binding's beside it (one process, one
    event loop: they share the admission control, fetcher and limits; the main app's lifespan runs both)."""
    found = [uvicorn.Server(uvicorn.Config(main, host=settings.host, port=settings.port, **config))]
    inner = main
    while not hasattr(inner, "state") and hasattr(inner, "app"):
        inner = inner.app  # the Starlette app inside the request context and the access log
    binding_app: ASGIApp | None = getattr(getattr(inner, "state", None), "binding", None)
    if settings.binding_listen and binding_app is not None:
        host, port = listen_address(settings.binding_listen)
        found.append(uvicorn.Server(uvicorn.Config(binding_app, host=host, port=port, lifespan="off", **config)))
    return found


def serve(main: ASGIApp, settings: Settings, **config: Any) -> None:
    """Serve until stopped; a signal stops both listeners (uvicorn passes it on once it has stopped)."""

    async def together() -> None:
        await asyncio.gather(*(server.serve() for server in servers(main, settings, **config)))

    asyncio.run(together())
