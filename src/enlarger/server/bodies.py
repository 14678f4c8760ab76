"""Reading request bodies for the images API and direct uploads, bounded and typed.

Bodies are read with a byte cap enforced while they stream in, so an oversize upload is refused
(413) without being buffered or spooled whole; forms, JSON bodies and the metadata fields SDKs
send are turned into plain values or a :class:`~enlarger.errors.RequestError` naming the field
(as are numeric query parameters, :func:`int_param`, shared by the API and the dashboard).
"""

from __future__ import annotations

import email.header
import email.message
import email.utils
import json
import re
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message

from enlarger.errors import EnlargerError, InputTooLargeError, RequestError
from enlarger.hosting import NewImage, check_creator, check_metadata
from enlarger.security.nul import refuse_nul

_BRACKET = re.compile(r"\[([^\]]*)\]")
_FORM_SLACK = 64 * 1024  # room for the multipart framing and text fields around the file


def bounded(request: Request, limit: int) -> Request:
    """The same request, whose body read fails with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _FORM_SLACK:
        raise _too_large(int(declared), limit)
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit + _FORM_SLACK:
                raise _too_large(seen, limit)
        return message

    return Request(request.scope, receive)


def _too_large(size: int, limit: int) -> InputTooLargeError:
    return InputTooLargeError(f"the upload is over {size:,} bytes; the limit is {limit:,} bytes", code=5413, status=413)


async def read_form(request: Request, limit: int) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise RequestError("send the upload as multipart/form-data")
    try:
        form = await bounded(request, limit).form(max_files=1, max_fields=200)
    except EnlargerError:
        raise
    except Exception as exc:  # the multipart parser's own errors: the body is malformed
        raise RequestError(f"could not read the form: {exc}") from exc
    for name, value in form.multi_items():  # text fields and file names; a file's content is an image
        refuse_nul(name, "a form field name")
        refuse_nul(value if isinstance(value, str) else value.filename, f"the form field {name!r}")
    return form


async def read_json(request: Request, limit: int = 64 * 1024) -> dict[str, Any]:
    """A JSON object body of at most ``limit`` bytes (empty means ``{}``): every JSON endpoint reads it here."""
    raw = await bounded(request, limit).body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    refuse_nul(body, "the JSON body")
    return body


def file_name(upload: UploadFile) -> str:
    """The part's file name as the client meant it: ``filename*`` (RFC 6266 / 5987, UTF-8 percent-
    encoded) when given, else ``filename``, with an RFC 2047 encoded word (``=?utf-8?B?…?=``, what
    .NET's ``MultipartFormDataContent`` writes there for non-ASCII names) decoded."""
    disposition = upload.headers.get("content-disposition", "")
    parsed = email.message.Message()
    parsed["content-disposition"] = disposition
    params = parsed.get_params(header="content-disposition") or []
    extended = [value for key, value in params if key.lower() == "filename" and isinstance(value, tuple)]
    if extended:
        return email.utils.collapse_rfc2231_value(extended[0], errors="replace")
    plain = upload.filename or ""
    if plain.startswith("=?") and plain.endswith("?="):
        try:
            return str(email.header.make_header(email.header.decode_header(plain)))
        except (ValueError, LookupError, UnicodeDecodeError):
            return plain
    return plain


async def file_bytes(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(len(data), limit)
    return data


def flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise RequestError(f"{name} must be true or false, got {value!r}")


def _metadata_path(key: str) -> list[str] | None:
    """``metadata[a][b]`` or ``metadata.a.b`` → ``["a", "b"]``; other field names → None."""
    rest = key[len("metadata") :] if key.startswith("metadata") else ""
    if rest.startswith("["):
        return _BRACKET.findall(rest) or None
    if rest.startswith(".") and len(rest) > 1:
        return rest[1:].split(".")
    return None


def form_metadata(form: FormData) -> dict[str, Any] | None:
    """``metadata`` as a JSON text (Cloudflare's form) or spread over ``metadata.key`` /
    ``metadata[key]`` fields (how SDKs encode an object in multipart)."""
    if "metadata" in form:
        text = form["metadata"]
        if not isinstance(text, str):
            raise RequestError("metadata must be a JSON text field, not a file")
        try:
            return check_metadata(json.loads(text) if text.strip() else {})
        except ValueError as exc:
            raise RequestError(f"metadata is not valid JSON: {exc}") from exc
    nested: dict[str, Any] = {}
    for key, value in form.multi_items():
        path = _metadata_path(key)
        if path is None or not isinstance(value, str):
            continue
        target = nested
        for part in path[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise RequestError(f"metadata field {key!r} conflicts with another metadata field")
            target = child
        target[path[-1]] = value
    return check_metadata(nested) if nested else None


def new_image(form: FormData, filename: str) -> NewImage:
    def text(name: str) -> str | None:
        value = form.get(name)
        if value is not None and not isinstance(value, str):
            raise RequestError(f"{name} must be a text field")
        return value

    return NewImage(
        id=text("id") or None,
        filename=filename,
        creator=check_creator(text("creator")),
        meta=form_metadata(form),
        require_signed=flag(text("requireSignedURLs") or "false", "requireSignedURLs"),
    )


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number in ``low``–``high`` (``default`` when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        raise RequestError(f"{name} must be a number between {low} and {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low} and {high}, got {value}")
    return value
