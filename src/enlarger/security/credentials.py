"""The rule for credentials: a secret the operator stored goes only where the operator said it belongs.

The server holds secrets for other services (``import_api_token``, the ``import_s3_*`` keys and
whatever boto3's standard chain finds). A URL a tenant sends — an import's ``images-api:`` base or
S3 ``endpoint_url`` — is never such a destination by itself: a secret is attached only when the
URL lies under one the operator listed for that secret (``import_api_token_urls``,
``import_s3_credential_endpoints``). A command the operator runs (``enlarger import``) names its
destinations itself and is not restricted.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _parts(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().removesuffix(".")
    return parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], parts.path.rstrip("/")


def belongs_to(url: str, destinations: Iterable[str]) -> bool:
    """Whether ``url`` lies under one of ``destinations``: same scheme, host and port, and a path at
    or below the destination's (``https://api.example/v4`` covers ``…/v4/accounts`` but not ``…/v4x``)."""
    found = _parts(url)
    if found is None:
        return False
    scheme, host, port, path = found
    for destination in destinations:
        wanted = _parts(destination)
        if wanted is None or wanted[:3] != (scheme, host, port):
            continue
        if not wanted[3] or path == wanted[3] or path.startswith(wanted[3] + "/"):
            return True
    return False
