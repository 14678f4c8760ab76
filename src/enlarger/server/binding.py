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

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from enlarger.binding.api import Images
from enlarger.binding.errors import ImagesError, Operation
from enlarger.binding.graph import RAW_FORMATS
from enlarger.binding.render import Rendered
from enlarger.errors import EnlargerError, RequestError
from enlarger.server.binding_wire import MAX_IMAGES, read_info, read_transform
from enlarger.server.bodies import bounded
from enlarger.server.errors import log_error
from enlarger.server.guard import guarded
from enlarger.settings import SettingsError

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
    node, output = await read_transform(form, images.settings.binding_max_input_bytes)
    rendered = await images.render(node, output)
    return Response(rendered.data, media_type=rendered.content_type, headers=_output_headers(rendered))


def _output_headers(rendered: Rendered) -> dict[str, str]:
    """What the output is, for clients that read it from headers rather than decode it
    (``@cloudflare/images`` builds its ``info`` from these; raw ``rgb``/``rgba`` carry no size)."""
    return {
        "Cache-Control": "no-store",
        "cf-images-output-format": _wire_format(rendered.content_type),
        "cf-images-output-width": str(rendered.width),
        "cf-images-output-height": str(rendered.height),
        "cf-images-output-flattened": "1" if rendered.flattened else "0",
    }


def _wire_format(content_type: str) -> str:
    """The output format as the request named it: ``rgb``/``rgba`` for raw pixels, else the media type."""
    raw = content_type.removeprefix("image/")
    return raw if raw in RAW_FORMATS else content_type


async def info(request: Request) -> Response:
    images: Images = request.app.state.images
    form = await _form(request, images)
    data = await read_info(form, images.settings.binding_max_input_bytes)
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
