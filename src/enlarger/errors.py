"""One error hierarchy for the whole product, and the one place that says how each error is reported.

Every failure a user can cause is an :class:`EnlargerError` whose class declares the HTTP
``status``, the Cloudflare-style ``9xxx`` ``code`` and the CLI ``exit_code``, so the server, the
CLI and the Python API report the same thing in the same words. The front ends only *render*
these (server/errors.py and the API envelope for HTTP, cli.py for the terminal); none of them
decides a status of its own.

Two texts travel with each error, after imgproxy's ``errctx``: ``message`` is public (one
sentence a person can act on, sent to clients), ``detail`` is internal (a decoder's own words,
a path; logged, never sent). ``report`` marks the failures that are our problem rather than
the caller's, to be logged as bugs.

Statuses and codes follow Cloudflare's error table (``images/reference/errors.mdx``): the code
and the HTTP status travel together, e.g. 9401 with 400 for bad options and with 403 for an
origin outside the allowed list, 9413 with 403 for an image too large to transform, 9402 with 413
for a file too large to fetch. docs/server.md lists every pair this product answers with.
"""

from __future__ import annotations


class EnlargerError(Exception):
    """Base of every error a caller is expected to handle."""

    status: int = 500
    code: int = 9500
    exit_code: int = 1
    #: log it as a bug (an unexpected or processing failure), not only as a refused request
    report: bool = False
    #: seconds the client should wait before retrying (sent as ``Retry-After``), when it applies
    retry_after: int | None = None

    def __init__(
        self, message: str, *, code: int | None = None, status: int | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:  # Cloudflare documents some codes with two statuses (9402: 502 or 413)
            self.status = status

    def to_dict(self) -> dict[str, object]:
        """The JSON body the HTTP layer sends (``errors`` entry of the Cloudflare envelope): never ``detail``."""
        return {"code": self.code, "message": self.message}


class OptionError(EnlargerError):
    """An option name or value is not valid; names the option, the value and what is allowed."""

    status = 400
    code = 9401
    exit_code = 2

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option = option
        self.value = value
        self.allowed = allowed
        shown = repr(value) if not isinstance(value, str) else f"'{value}'"
        super().__init__(f"invalid value {shown} for option '{option}': {allowed}")


class UnknownOptionError(OptionError):
    """The option name itself is not one we know."""

    def __init__(self, option: str, suggestions: str) -> None:
        EnlargerError.__init__(self, f"unknown option '{option}'{suggestions}")
        self.option = option
        self.value = None
        self.allowed = suggestions


class UnsupportedFormatError(EnlargerError):
    """The bytes are not an image format we accept (identified by content, never by name): an HTML
    error page, a login page, a TIFF. Cloudflare: 9412 "the requested file is not an image"."""

    status = 415
    code = 9412
    exit_code = 3


class CorruptImageError(EnlargerError):
    """The bytes claim a supported format but cannot be decoded (truncated, damaged, lying).
    Cloudflare: 9520 "original image has unsupported format"."""

    status = 415
    code = 9520
    exit_code = 3


class InputTooLargeError(EnlargerError):
    """The image exceeds a configured limit (pixels, frames, SVG elements), found from headers.
    Cloudflare: 9413 with 403 ("the image is too large")."""

    status = 403
    code = 9413
    exit_code = 3


class FileTooLargeError(InputTooLargeError):
    """The source file has more bytes than allowed. Cloudflare: 9402 with 413 ("file too large")."""

    status = 413
    code = 9402


class FeatureUnavailableError(EnlargerError):
    """The request needs something this installation has not been configured with (a model)."""

    status = 501
    code = 9526
    exit_code = 4


class ProcessingError(EnlargerError):
    """The engine failed while processing valid input; a bug or a resource limit, not the user's fault.
    Cloudflare: 9523 with 500 ("internal error while processing the image")."""

    status = 500
    code = 9523
    exit_code = 5
    report = True


class StorageOwnershipError(EnlargerError):
    """The orphan sweep cannot prove the bucket belongs to the catalog it opened (a wrong or missing
    ``database_url``): it deletes nothing rather than every original (issue 25)."""

    status = 500
    code = 9523
    exit_code = 6
    report = True


class InvalidSourceError(EnlargerError):
    """The source is not a usable http(s) URL or path. As a transformation source (sources.py)
    Cloudflare's pairs apply: 403 with 9406 ("invalid URL") or 9419 ("not allowed"); elsewhere
    (an upload's URL) it is a plain bad request."""

    status = 400
    code = 9419
    exit_code = 2


class SourceForbiddenError(EnlargerError):
    """The source is somewhere we refuse to fetch from: an internal address, outside the origin directory."""

    status = 403
    code = 9406
    exit_code = 2


class OriginNotAllowedError(SourceForbiddenError):
    """An absolute source URL outside ``allowed_hosts``. Cloudflare: 9401 with 403
    ("Transformation origin is not in allowed origins list")."""

    code = 9401


class LoopError(EnlargerError):
    """The request came from an image resizer (``Via: image-resizing``): transforming it again
    would loop. Cloudflare: 9403 with 508."""

    status = 508
    code = 9403
    exit_code = 2


class SourceNotFoundError(EnlargerError):
    """The origin has no such source."""

    status = 404
    code = 9404
    exit_code = 1


class OriginError(EnlargerError):
    """The origin failed: unreachable, DNS failure, an error status, or bad or too many redirects.
    Cloudflare: 9505 with 502 ("could not fetch the image"); the raising site names the precise
    code (9407, 9408, 9420, 9421, 9509, 9510, 9519) and its status."""

    status = 502
    code = 9505
    exit_code = 1


class OriginTimeoutError(OriginError):
    """The origin did not answer (or finish answering) in time. Cloudflare: 9504 with 522
    (no connection in time) or 524 (the download took too long)."""

    status = 524
    code = 9504


class OverloadedError(EnlargerError):
    """Every worker is busy and the queue is full: retry shortly. Cloudflare: 9522 with 503 ("too busy")."""

    status = 503
    code = 9522
    exit_code = 1

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutageError(OverloadedError):
    """A service this one depends on (the catalog database, the storage) cannot be reached right now:
    nobody's fault here and nothing lost, so 503 with ``Retry-After`` tells clients and SDKs to
    retry, and the log says outage rather than bug (issue 25)."""

    retry_after_seconds = 5

    def __init__(self, service: str, *, detail: str) -> None:
        super().__init__(f"the {service} is unavailable right now; retry shortly", retry_after=self.retry_after_seconds)
        self.detail = detail
        self.service = service


class TransformTimeoutError(ProcessingError):
    """One transformation ran past its time limit and was stopped (a limit doing its job, not a bug).
    Cloudflare: 9529 with 504 ("the image is too large to process or the service is too busy")."""

    status = 504
    code = 9529
    report = False


class RequestError(EnlargerError):
    """A hosting API request is malformed: a missing field, bad JSON, a value out of range."""

    status = 400
    code = 5400
    exit_code = 2


class EscapedRouteError(RequestError):
    """The part of a request path that picks its route was percent-encoded (``/%63dn-cgi/image/…``):
    refused rather than routed, so a proxy rule on the literal prefix cannot be bypassed.
    Cloudflare: 9424 with 400 ("missing or invalid HTTP request parameters")."""

    code = 9424


class AuthenticationError(EnlargerError):
    """No usable API token was presented (missing or malformed ``Authorization``)."""

    status = 401
    code = 10001
    exit_code = 2


class PermissionDeniedError(EnlargerError):
    """The token is unknown, revoked, or belongs to another account."""

    status = 403
    code = 10000
    exit_code = 2


class TooManyFailuresError(EnlargerError):
    """This client address failed too many credential checks lately: it must wait (no token is
    even checked meanwhile). Cloudflare's API answers rate limits with 429 and code 971."""

    status = 429
    code = 971
    exit_code = 1

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignatureError(EnlargerError):
    """A delivery URL needs a valid signature and has none, a forged one, or an expired one.
    Cloudflare: 9425 with 403 ("image access denied")."""

    status = 403
    code = 9425
    exit_code = 2


class FlexibleVariantsDisabledError(EnlargerError):
    """Options in a delivery URL while the account has flexible variants off.
    Cloudflare: 9429 with 403 ("flexible variants are not enabled for the account")."""

    status = 403
    code = 9429
    exit_code = 2


class NotFoundError(EnlargerError):
    """No such account, image, variant, signing key or upload slot."""

    status = 404
    code = 5404
    exit_code = 1


class ConflictError(EnlargerError):
    """The resource already exists (a custom image ID, a variant name) or was already used."""

    status = 409
    code = 5409
    exit_code = 1


class GoneError(EnlargerError):
    """A one-time upload URL that expired."""

    status = 410
    code = 5410
    exit_code = 1


class QuotaExceededError(EnlargerError):
    """The account stores as many images as it is allowed."""

    status = 429
    code = 5429
    exit_code = 1


class TransformationQuotaError(EnlargerError):
    """The account used its unique transformations for the 30-day window: new ones are refused."""

    status = 429
    code = 9422
    exit_code = 1
