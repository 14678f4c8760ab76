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
"""

from __future__ import annotations


class EnlargerError(Exception):
    """Base of every error a caller is expected to handle."""

    status: int = 500
    code: int = 9500
    exit_code: int = 1
    #: log it as a bug (an unexpected or processing failure), not only as a refused request
    report: bool = False

    def __init__(self, message: str, *, code: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code

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
    """The bytes are not an image format we accept (identified by content, never by name)."""

    status = 415
    code = 9520
    exit_code = 3


class CorruptImageError(EnlargerError):
    """The bytes claim a supported format but cannot be decoded (truncated, damaged, lying)."""

    status = 415
    code = 9520
    exit_code = 3


class InputTooLargeError(EnlargerError):
    """The input exceeds a configured limit (bytes, pixels, frames × pixels), found from headers."""

    status = 413
    code = 9413
    exit_code = 3


class FeatureUnavailableError(EnlargerError):
    """The request needs something this installation has not been configured with (a model)."""

    status = 501
    code = 9526
    exit_code = 4


class ProcessingError(EnlargerError):
    """The engine failed while processing valid input; a bug or a resource limit, not the user's fault."""

    status = 500
    code = 9522
    exit_code = 5
    report = True


class InvalidSourceError(EnlargerError):
    """The source is not a usable path or http(s) URL."""

    status = 400
    code = 9419
    exit_code = 2


class SourceForbiddenError(EnlargerError):
    """The source is somewhere we refuse to fetch from: a host not allowed, or an internal address."""

    status = 403
    code = 9406
    exit_code = 2


class SourceNotFoundError(EnlargerError):
    """The origin has no such source."""

    status = 404
    code = 9404
    exit_code = 1


class OriginError(EnlargerError):
    """The origin failed: unreachable, DNS failure, an error status, or too many redirects."""

    status = 502
    code = 9504
    exit_code = 1


class OriginTimeoutError(OriginError):
    """The origin did not answer (or finish answering) in time."""

    status = 504
    code = 9509


class OverloadedError(EnlargerError):
    """Every worker is busy and the queue is full: retry shortly."""

    status = 503
    code = 9503
    exit_code = 1

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransformTimeoutError(ProcessingError):
    """One transformation ran past its time limit and was stopped (a limit doing its job, not a bug)."""

    report = False


class RequestError(EnlargerError):
    """A hosting API request is malformed: a missing field, bad JSON, a value out of range."""

    status = 400
    code = 5400
    exit_code = 2


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


class SignatureError(EnlargerError):
    """A delivery URL needs a valid signature and has none, a forged one, or an expired one."""

    status = 403
    code = 9403
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
