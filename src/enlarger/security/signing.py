"""Signed delivery URLs, by Cloudflare Images' algorithm.

``sig = hex(HMAC-SHA256(key, path + "?" + query))`` where ``query`` is everything before the
``sig`` parameter (``exp`` included, so the expiry cannot be changed without the key); with no
other parameters the string to sign is just the path. Comparison is constant-time and every
account key is tried, so keys can be rotated without breaking URLs signed with the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from enlarger.errors import SignatureError


def signature(key: str, path: str, query: str = "") -> str:
    message = f"{path}?{query}" if query else path
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_url(key: str, path: str, *, expires: int | None = None, query: str = "") -> str:
    """``path`` with ``exp`` (when given) and ``sig`` appended: a URL the key's holder vouches for."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if expires is not None:
        pairs.append(("exp", str(expires)))
    signed_query = urlencode(pairs)
    sig = signature(key, path, signed_query)
    return f"{path}?{signed_query}&sig={sig}" if signed_query else f"{path}?sig={sig}"


def verify(path: str, query: str, keys: Iterable[str], *, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``query`` carries a valid, unexpired ``sig`` for ``path``."""
    pairs = parse_qsl(query, keep_blank_values=True)
    given = [value for name, value in pairs if name == "sig"]
    if not given:
        raise SignatureError("this image needs a signed URL: the sig parameter is missing")
    if len(given) > 1 or pairs[-1][0] != "sig":
        raise SignatureError("invalid signed URL: sig must appear once, as the last parameter")
    signed_query = query[: query.rfind("sig=")].rstrip("&")
    expiry = [value for name, value in pairs if name == "exp"]
    if expiry:
        try:
            expires = int(expiry[-1])
        except ValueError:
            raise SignatureError(f"invalid exp {expiry[-1]!r}: expected unix seconds") from None
        if (time.time() if now is None else now) >= expires:
            raise SignatureError("this signed URL has expired")
    expected = given[0].lower()
    if not any(hmac.compare_digest(signature(key, path, signed_query), expected) for key in keys):
        raise SignatureError("invalid signature for this URL")
