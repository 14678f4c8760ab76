"""``POST /upload/<secret>``: the one-time URL a direct creator upload hands to a browser.

No API token: the secret in the URL is the authorisation, stored only as a digest and burned
in the same transaction that commits the image, so a second use finds nothing. An invalid or
oversize file is refused before anything is stored and leaves the slot usable until it expires.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from enlarger.errors import RequestError
from enlarger.server.api_envelope import envelope, enveloped, file_bytes, read_form, run
from enlarger.server.guard import guarded
from enlarger.server.hosted import Hosted


async def _redeem(request: Request) -> Response:
    hosted: Hosted = request.app.state.hosted
    secret = request.path_params["secret"]
    catalog = hosted.hosting.catalog
    slot = await run(catalog.slot, secret)  # unknown, used or expired: refused before reading the body
    limit = hosted.hosting.settings.max_upload_bytes
    form = await read_form(request, limit)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise RequestError("send the image as a multipart file part named 'file'")
    data = await file_bytes(file, limit)
    image = await run(hosted.hosting.fill, secret, data, file.filename or "")
    account = await run(catalog.account, slot.account_id)
    return envelope((await hosted.delivery(request, account)).record(image))


_guarded_redeem = guarded(_redeem, enveloped)


async def endpoint(request: Request) -> Response:
    response = await _guarded_redeem(request)
    response.headers["Access-Control-Allow-Origin"] = "*"  # browsers post here from the creator's page
    return response
