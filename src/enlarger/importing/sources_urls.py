"""A list of URLs as an import source: a file or stdin, as CSV, JSON Lines or one URL per line.

CSV needs a header with a ``url`` column; JSON Lines are objects with ``url``. Both may carry
``id``, ``metadata`` (an object; JSON text in CSV), ``creator`` and ``requireSignedURLs``. Each
URL is fetched through the SSRF-safe fetcher (internal addresses refused unless
``fetch_allowed_networks`` allows them). A line that cannot be read becomes an object that fails
with the line number and the reason; the rest of the list goes on. The listing cursor is the
number of entries recorded, so an interrupted listing resumes by skipping them in the same file.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, TextIO
from urllib.parse import urlsplit

import anyio

from enlarger.errors import EnlargerError, RequestError
from enlarger.hosting import check_metadata
from enlarger.importing.jobs import Item, Listed
from enlarger.importing.listing import PAGE, ListingPage
from enlarger.security.fetch import Fetcher, checked_url

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise RequestError(f"requireSignedURLs must be true or false, got {value!r}")


def entry(fields: dict[str, Any], where: str) -> Listed:
    """One list entry (a CSV row or a JSON object) as a listed object; problems make it fail alone."""
    url = fields.get("url")
    key = url if isinstance(url, str) and url else f"({where})"
    try:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise RequestError(f"needs an http(s) url, got {url!r}")
        checked_url(url)  # malformed (a bad port, an unbalanced bracket, spaces): this entry fails alone
        meta = fields.get("metadata") or {}
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError as exc:
                raise RequestError(f"metadata is not valid JSON: {exc}") from exc
        spec = {
            "url": url,
            "filename": urlsplit(url).path.rsplit("/", 1)[-1],
            "meta": check_metadata(meta),
            "creator": str(fields["creator"]) if fields.get("creator") not in (None, "") else None,
            "requireSignedURLs": _flag(fields.get("requireSignedURLs", False)),
        }
        image_id = fields.get("id")
        return Listed(key, None, str(image_id) if image_id not in (None, "") else None, spec)
    except EnlargerError as exc:
        return Listed(key, problem=f"{where}: {exc.message}")
    except ValueError as exc:  # urlsplit's own refusals ("Invalid IPv6 URL")
        return Listed(key, problem=f"{where}: the URL is malformed: {exc}")


def read_entries(lines: Iterable[str]) -> Iterator[Listed]:
    """Entries of a list, its format told by its first non-blank line."""
    lines = iter(lines)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    rest = itertools.chain([first], lines)
    if first.lstrip().startswith("{"):
        for number, line in enumerate(rest, 1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except ValueError as exc:
                yield Listed(f"(line {number})", problem=f"line {number}: not a JSON object ({exc})")
                continue
            if not isinstance(fields, dict):
                yield Listed(f"(line {number})", problem=f"line {number}: not a JSON object")
                continue
            yield entry(fields, f"line {number}")
        return
    header = next(csv.reader([first]))
    if "url" in (name.strip() for name in header):
        reader = csv.DictReader(rest, skipinitialspace=True)
        for number, row in enumerate(reader, 2):
            yield entry({k.strip(): v for k, v in row.items() if k}, f"line {number}")
        return
    for number, line in enumerate(rest, 1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield entry({"url": text}, f"line {number}")


class UrlSource:
    """``path`` a file or ``-`` (stdin); None for a list recorded when the job was created (API)."""

    def __init__(self, path: str | None, fetcher: Fetcher, max_bytes: int, stdin: TextIO | None = None) -> None:
        self.path = path
        self.fetcher = fetcher
        self.max_bytes = max_bytes
        self._stdin = stdin or sys.stdin

    async def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        if self.path is None:
            yield ListingPage([], cursor, last=True)
            return
        # bytes that are not UTF-8 become U+FFFD: that line fails alone instead of ending the listing
        handle = (
            self._stdin if self.path == "-" else open(self.path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
        )
        try:
            entries = read_entries(handle)
            consumed = int(cursor or 0)
            await anyio.to_thread.run_sync(lambda: next(itertools.islice(entries, consumed, consumed), None))
            while True:
                batch = await anyio.to_thread.run_sync(lambda: list(itertools.islice(entries, PAGE)))
                consumed += len(batch)
                yield ListingPage(batch, str(consumed), last=len(batch) < PAGE)
                if len(batch) < PAGE:
                    return
        finally:
            if handle is not self._stdin:
                handle.close()

    async def read(self, item: Item) -> bytes:
        fetched = await self.fetcher.fetch(item.spec["url"], max_bytes=self.max_bytes)
        return fetched.data

    async def aclose(self) -> None:
        return None
