"""``GET|HEAD /cdn-cgi/image/<options>/<source>``: transform by URL, cached and negotiated.

This route only reads the URL: it parses the options, applies client hints and locates the
source (its identity, not its bytes); :func:`enlarger.server.outputs.respond` does the rest.
With ``onerror=redirect`` any failure but invalid options answers with a redirect to the source's own
address (an origin 404 too), where it has a public one (see ``Sources.url_of``).

A request whose ``Via`` says ``image-resizing`` came from an image resizer (our own fetcher sends
it, as Cloudflare's does): transforming it again would loop, so it is refused with 508/9403
(Cloudflare's transform-via-workers page and error table).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from enlarger import url_overlay
from enlarger.errors import EnlargerError, LoopError, OptionError, OriginError, SourceNotFoundError
from enlarger.options import Options, parse_url_options
from enlarger.server.hints import apply_hints
from enlarger.server.outputs import OutputRequest, Services, respond
from enlarger.server.overlays import with_overlay
from enlarger.sources import Sources


def _split(request: Request, sources: Sources) -> tuple[str, str]:
    rest = request.path_params["rest"]
    cut = url_overlay.slash_outside_parentheses(rest)  # draw=url(/a/b.png) keeps its slashes
    options_text, source = (rest[:cut], rest[cut + 1 :]) if cut >= 0 else (rest, "")
    query: bytes = request.scope["query_string"]  # raw, as request.url.query, without building a URL
    source = sources.with_query(source, query.decode("utf-8", "replace"))
    return options_text, source  # the server already percent-decoded the path once


async def endpoint(request: Request) -> Response:
    """Answer one transform-by-URL request (errors are rendered by the route's guard)."""
    services: Services = request.app.state.services
    options: Options | None = None
    source: str | None = None
    try:
        if "image-resizing" in request.headers.get("via", "").lower():
            raise LoopError("the request came from an image resizer (Via: image-resizing); resizing it would loop")
        options_text, source = _split(request, services.sources)
        if not options_text:  # /cdn-cgi/image//photo.jpg: Cloudflare answers an error, not the image
            raise OptionError("options", "", "give at least one option before the source, e.g. width=400")
        options = parse_url_options(options_text)
        hinted = apply_hints(options, request.headers)
        located = await services.sources.locate(source)
        output = OutputRequest(hinted.options, located, hinted.vary, head=request.method == "HEAD")
        output = await with_overlay(output, services.sources.locate)  # draw=: same rules as sources
        return await respond(request, services, output)
    except EnlargerError as error:
        if isinstance(error, (OriginError, SourceNotFoundError)):
            services.metrics.origin_errors.labels(code=str(error.code)).inc()
        if options is not None and options.onerror == "redirect" and source and not isinstance(error, OptionError):
            redirect = services.sources.url_of(source)  # an origin 404 too: the source was never located
            if redirect:
                return RedirectResponse(redirect, status_code=302, headers={"Cf-Resized": f"err={error.code}"})
        raise
