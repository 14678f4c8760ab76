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


def verify(paths: Iterable[str], query: str, keys: Iterable[str], *, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``query`` carries a valid, unexpired ``sig`` for one of ``paths``.

    The raw query is split on ``&``: the last segment must literally be ``sig=<hex>`` and the
    signed part is everything before it, byte for byte. ``exp`` is read from the signed part only,
    and no other segment may decode to ``sig`` — so nothing can be added after the signature or
    smuggled in under an encoded name.
    """
    segments = query.split("&") if query else []
    if not segments or not segments[-1].startswith("sig="):
        if any(name == "sig" for name, _ in parse_qsl(query, keep_blank_values=True)):
            raise SignatureError("invalid signed URL: sig must appear once, as the last parameter")
        raise SignatureError("this image needs a signed URL: the sig parameter is missing")
    signed_query = "&".join(segments[:-1])
    signed_pairs = parse_qsl(signed_query, keep_blank_values=True)
    if any(name == "sig" for name, _ in signed_pairs):
        raise SignatureError("invalid signed URL: sig must appear once, as the last parameter")
    expires = expiry(signed_pairs)
    if expires is not None and (time.time() if now is None else now) >= expires:
        raise SignatureError("this signed URL has expired")
    expected = segments[-1].removeprefix("sig=").lower()
    candidates = (signature(key, path, signed_query) for key in keys for path in dict.fromkeys(paths))
    if not any(hmac.compare_digest(candidate, expected) for candidate in candidates):
        raise SignatureError("invalid signature for this URL")


def expiry(pairs: list[tuple[str, str]]) -> int | None:
    """The ``exp`` of a signed query's pairs (the last one; they are all signed)."""
    values = [value for name, value in pairs if name == "exp"]
    if not values:
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise SignatureError(f"invalid exp {values[-1]!r}: expected unix seconds") from None


def signed_expiry(query: str) -> int | None:
    """``exp`` from the signed part of a query that :func:`verify` accepted."""
    signed = query.rsplit("&", 1)[0] if "&" in query else ""
    return expiry(parse_qsl(signed, keep_blank_values=True))
