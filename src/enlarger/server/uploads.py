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
from enlarger.server.bodies import file_bytes, file_name, read_form
from enlarger.server.envelope import envelope, enveloped
from enlarger.server.guard import guarded
from enlarger.server.hosting_service import HostingService
from enlarger.server.offload import run


async def _redeem(request: Request) -> Response:
    service: HostingService = request.app.state.hosting
    secret = request.path_params["secret"]
    catalog = service.hosting.catalog
    slot = await run(catalog.slot, secret)  # unknown, used or expired: refused before reading the body
    limit = service.hosting.settings.max_upload_bytes
    form = await read_form(request, limit)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise RequestError("send the image as a multipart file part named 'file'")
    data = await file_bytes(file, limit)
    account = await run(catalog.account, slot.account_id)
    records = await service.records(request, account)  # read before the commit: nothing after it can fail
    image = await service.redeem(secret, data, file_name(file))
    return envelope(records.record(image))


_guarded_redeem = guarded(_redeem, enveloped)


async def endpoint(request: Request) -> Response:
    response = await _guarded_redeem(request)
    response.headers["Access-Control-Allow-Origin"] = "*"  # browsers post here from the creator's page
    return response
