"""SSRF-safe fetching of remote sources over HTTP(S).

Every URL, the first and each redirect's, is parsed strictly before anything is resolved: one
that parsers could read two ways (whitespace, control characters, backslashes, ``user@host``) is
malformed, and a host written in Unicode is folded (UTS #46, which includes NFKC: ``ⓔⓧⓐⓜⓟⓛⓔ``
is ``example``) to the ASCII name that is then checked and fetched. Redirects are followed by
hand so that every hop is checked (scheme, resolved addresses); connections go to the addresses
that were checked; time (connect and total) and bytes (counted while streaming, aborted past the
limit) are capped; the User-Agent is fixed and says who we are.

Which origins may be asked at all is the caller's check, on the first URL only
(:func:`origin_matcher`, Cloudflare's sources page: "only the first URL is checked, redirects
are followed"). Every request carries ``Via: 1.1 image-resizing``, the loop marker Cloudflare
documents, so that a resizer behind us (another Enlarger included) refuses to transform it again.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import anyio
import httpcore
import idna

from enlarger import __version__, tracing
from enlarger.errors import (
    FileTooLargeError,
    InvalidSourceError,
    OriginError,
    OriginTimeoutError,
    SourceNotFoundError,
)
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.settings import Settings

USER_AGENT = f"Enlarger/{__version__} (image transformation service; +https://github.com/enlarger/enlarger)"
_REDIRECTS = (301, 302, 303, 307, 308)
#: The loop marker Cloudflare documents (transform-via-workers: "image-resizing" in ``Via``)
VIA = "1.1 image-resizing"
#: whitespace, control characters and backslashes: URL parsers disagree on where they end a part
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f-\x9f\\\s]")
_LABEL = re.compile(r"[A-Za-z0-9_-]+")
#: a label that makes the host an IPv4 address to WHATWG parsers (decimal, octal or hex)
_NUMBER = re.compile(r"(0[xX][0-9A-Fa-f]*|[0-9]+)")


def checked_url(url: str) -> tuple[str, SplitResult]:
    """``url`` with an ASCII host, and its parts; :class:`InvalidSourceError` when it is malformed.

    Only a host that is not ASCII is rewritten (to its UTS #46 A-label form), so every URL that
    fetched before is fetched, and cached, under the same text.
    """
    if _AMBIGUOUS.search(url):
        raise InvalidSourceError(
            "the source URL is malformed: it contains spaces, control characters or backslashes (percent-encode them)"
        )
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a bad port, an unbalanced IPv6 bracket, a host that NFKC breaks
        raise InvalidSourceError(f"the source URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidSourceError(f"the source URL must be http(s) with a host, got {url!r}")
    if "@" in parts.netloc:
        raise InvalidSourceError("the source URL is malformed: it must not carry credentials (user@host)")
    try:
        if host.isascii():
            _check_labels(host)
            return url, parts
        folded = idna.encode(host, uts46=True).decode("ascii")
        _check_labels(folded)  # what it folds to must be a host too (full-width digits: 425.510.425.510)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidSourceError(f"the source URL's host {host!r} is not a valid host name ({exc})") from None
    netloc = folded if port is None else f"{folded}:{port}"
    folded_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return folded_url, urlsplit(folded_url)


@dataclass(frozen=True)
class Fetched:
    """A fetched source, or (``not_modified``) confirmation that the cached one is still current."""

    url: str
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def _check_labels(host: str) -> None:
    """An ASCII name needs no folding, but it must be a name or an IPv4 address, as every parser reads it.

    Refused: empty labels, undecodable ``xn--`` labels, characters no host name has (``%`` — some
    parsers percent-decode hosts, others do not —, ``*``, ``!`` …; letters, digits, ``-`` and the
    ``_`` of internal names are kept), and a host whose last label is a number but which is no IPv4
    address (``425.510.425.510``: WHATWG URL parsers refuse it, a resolver would look it up as a name).
    """
    if ":" in host:  # an IPv6 literal
        return
    labels = host.removesuffix(".").split(".")
    for label in labels:
        if not label:
            raise idna.IDNAError("empty label")
        if not _LABEL.fullmatch(label):
            raise idna.IDNAError("it has characters a host name cannot have")
        if label.lower().startswith("xn--"):
            idna.decode(label)
    if _NUMBER.fullmatch(labels[-1]):
        try:
            socket.inet_aton(host.removesuffix("."))
        except OSError:
            raise idna.IDNAError("it is neither a host name nor an IPv4 address") from None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard accepted, trying each in turn."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self._guard.resolve(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class _Allowed:
    """One ``allowed_hosts`` entry: a host (with ``*.``: it and its subdomains) and a path prefix."""

    host: str
    subdomains: bool
    path: str  # "" for any path, else "/prefix" without a trailing slash

    @classmethod
    def parse(cls, entry: str) -> _Allowed:
        text = entry.strip().lower()
        for scheme in ("https://", "http://"):
            text = text.removeprefix(scheme)
        host, _, path = text.partition("/")
        return cls(host.removeprefix("*."), host.startswith("*."), "/" + path.strip("/") if path.strip("/") else "")

    def matches(self, host: str, path: str) -> bool:
        if host != self.host and not (self.subdomains and host.endswith("." + self.host)):
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")


def origin_matcher(entries: Iterable[str]) -> Callable[[str], bool]:
    """Whether an absolute URL may be fetched under ``allowed_hosts`` (Cloudflare's sources page).

    Each entry is a domain with an optional path prefix: ``example.com`` is that host only (no
    subdomains), ``*.example.com`` the domain and every subdomain, ``example.com/images`` only
    paths at or below ``/images``. Only the URL asked for is checked; its redirects are not.
    """
    allowed = tuple(_Allowed.parse(entry) for entry in entries if entry.strip())

    def allows(url: str) -> bool:
        parts = checked_url(url)[1]
        host = (parts.hostname or "").lower().removesuffix(".")
        return any(entry.matches(host, parts.path or "/") for entry in allowed)

    return allows


class Fetcher:
    """Fetches source URLs. Hops to ``trusted_origin``'s host skip the address check (it is
    configured by the operator); every other hop must pass the guard."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        connect_timeout: float,
        total_timeout: float,
        max_redirects: int,
        max_bytes: int,
        trusted_origin: str | None = None,
    ) -> None:
        context = ssl.create_default_context()
        self._guarded = httpcore.AsyncConnectionPool(ssl_context=context, network_backend=_GuardedBackend(guard))
        self._trusted = httpcore.AsyncConnectionPool(ssl_context=context)
        self._trusted_netloc = urlsplit(trusted_origin).netloc.lower() if trusted_origin else None
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self._max_redirects = max_redirects
        self._max_bytes = max_bytes

    @classmethod
    def from_settings(
        cls, settings: Settings, *, max_bytes: int | None = None, trusted_origin: str | None = None
    ) -> Fetcher:
        """The fetcher the ``fetch_*`` settings describe (one place, for the server, the binding and imports);
        ``max_bytes`` defaults to ``max_input_bytes``."""
        return cls(
            AddressGuard(parse_networks(settings.fetch_allowed_networks)),
            connect_timeout=settings.fetch_connect_timeout,
            total_timeout=settings.fetch_timeout,
            max_redirects=settings.fetch_max_redirects,
            max_bytes=settings.max_input_bytes if max_bytes is None else max_bytes,
            trusted_origin=trusted_origin,
        )

    async def aclose(self) -> None:
        await self._guarded.aclose()
        await self._trusted.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Fetched:
        """GET ``url`` (conditionally when validators are given), following checked redirects.

        ``max_bytes`` lowers the byte cap for this fetch (uploads have a smaller limit than sources).
        ``headers`` (credentials of an import source) go only to ``url``'s own origin, never to a
        redirect's other host.
        """
        limit = min(self._max_bytes, max_bytes) if max_bytes is not None else self._max_bytes
        try:
            with anyio.fail_after(self._total_timeout):
                return await self._follow(url, etag, last_modified, limit, headers)
        except TimeoutError as exc:
            raise OriginTimeoutError(f"the source did not arrive within {self._total_timeout:g} s") from exc

    async def _follow(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        limit: int,
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> Fetched:
        home = ""  # the first URL's origin, once checked (and folded): the only one ``extra`` goes to
        for hop in range(self._max_redirects + 1):
            try:
                url, parts = checked_url(url)
            except InvalidSourceError as exc:
                if hop == 0:
                    raise
                raise OriginError(
                    f"the origin redirected to an invalid URL: {exc.message}", code=9420, status=400
                ) from exc
            assert parts.hostname is not None
            if hop == 0:
                home = parts.netloc.lower()
            trusted = parts.netloc.lower() == self._trusted_netloc
            headers = [(b"User-Agent", USER_AGENT.encode()), (b"Accept", b"image/*,*/*;q=0.8"), (b"Via", VIA.encode())]
            if etag:
                headers.append((b"If-None-Match", etag.encode("latin-1")))
            if last_modified:
                headers.append((b"If-Modified-Since", last_modified.encode("latin-1")))
            if parts.netloc.lower() == home:
                headers.extend(extra)
            pool = self._trusted if trusted else self._guarded
            timeouts = {"connect": self._connect_timeout, "read": self._total_timeout, "pool": self._total_timeout}
            try:
                async with (
                    _hop(parts, headers) as span,
                    pool.stream("GET", url, headers=headers, extensions={"timeout": timeouts}) as response,
                ):
                    status = response.status
                    if tracing.ENABLED:
                        span.set_attribute("http.response.status_code", status)
                    found = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                    if status in _REDIRECTS and "location" in found:
                        url = urljoin(url, found["location"])
                        continue
                    if status == 304 and (etag or last_modified):
                        return Fetched(url, b"", etag, last_modified, not_modified=True)
                    _check_status(status, url)
                    body = await _read(response, limit)
                    return Fetched(url, body, found.get("etag"), found.get("last-modified"))
            except (httpcore.ConnectTimeout, httpcore.PoolTimeout) as exc:
                raise OriginTimeoutError(f"the source at {parts.hostname} did not answer in time", status=522) from exc
            except httpcore.ReadTimeout as exc:
                raise OriginTimeoutError(f"the source at {parts.hostname} did not finish sending in time") from exc
            except httpcore.ConnectError as exc:
                message = f"the source at {parts.hostname} is unreachable ({exc or 'refused'})"
                raise OriginError(message, code=9510, status=523) from exc
            except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
                message = f"the connection to {parts.hostname} was interrupted ({exc or type(exc).__name__})"
                raise OriginError(message, code=9402) from exc
        raise OriginError(f"the source redirected more than {self._max_redirects} times", code=9421, status=400)


@asynccontextmanager
async def _hop(parts: SplitResult, headers: list[tuple[bytes, bytes]]) -> AsyncIterator[Any]:
    """One hop's client span, whose context goes out in ``headers`` (``traceparent``) when tracing
    is on; the URL is recorded without its query (signatures and tokens live there)."""
    attributes = None
    if tracing.ENABLED:
        attributes = {
            "url.full": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "http.request.method": "GET",
            "server.address": parts.hostname or "",
        }
    with tracing.span("GET", attributes, client=True) as span:
        tracing.inject(headers)
        yield span


async def _read(response: httpcore.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_stream():
        size += len(chunk)
        if size > limit:
            raise FileTooLargeError(f"the source is larger than the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_status(status: int, url: str) -> None:
    """The origin's error status as Cloudflare's code and status: 404/410 → 9404 (404), 400 → 9519
    (502), any other 4xx → 9408 (408), 5xx and the rest → 9509 (502)."""
    if status in (404, 410):
        raise SourceNotFoundError(f"the origin has no source at {url} (HTTP {status})")
    if status == 400:
        raise OriginError(f"the origin refused the request for {url} (HTTP 400)", code=9519)
    if 400 <= status < 500:
        raise OriginError(f"the origin refused the source at {url} (HTTP {status})", code=9408, status=408)
    if status >= 300:
        raise OriginError(f"the origin failed to serve {url} (HTTP {status})", code=9509)
