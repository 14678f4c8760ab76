"""Which failures are outages of a service we depend on, rather than bugs.

A database that restarts or an S3 that stops answering raises the driver's own exceptions
(SQLAlchemy's ``OperationalError``, botocore's connection errors, an S3 5xx). They are nobody's
fault here and retrying later will work, so :func:`outage_of` turns them into an
:class:`~enlarger.errors.OutageError` (503 + ``Retry-After``) for the one error wrapper
(:mod:`enlarger.server.guard`); every other unexpected exception stays a reportable 500.
"""

from __future__ import annotations

from sqlalchemy import exc as sql

from enlarger.errors import OutageError

_CATALOG = (sql.OperationalError, sql.InterfaceError, sql.DisconnectionError, sql.TimeoutError)


def _storage_outage(error: BaseException) -> bool:
    try:
        from botocore import exceptions as boto  # optional: only S3 deployments have it
    except ImportError:  # pragma: no cover - boto3 is installed with the s3 extra
        return False
    if isinstance(error, boto.ConnectionError | boto.HTTPClientError):
        return True
    if isinstance(error, boto.ClientError):  # S3 answered, with a 5xx (SlowDown, ServiceUnavailable, ...)
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return False


def outage_of(error: BaseException) -> OutageError | None:
    """The outage ``error`` (or an exception it was raised from) reports, if it is one."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _CATALOG):
            return OutageError("catalog database", detail=f"{type(seen).__name__}: {seen}")
        if _storage_outage(seen):
            return OutageError("image storage", detail=f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return None
