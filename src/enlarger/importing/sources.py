"""What every import source provides, how ``--from`` names one, and opening it for a job.

A source lists its objects in pages (each page with the cursor to continue after it, so a
listing interrupted by a crash resumes where its last recorded page ended) and reads one
object's bytes at a time. The job keeps the source's description and configuration, never its
credentials: those come from the settings or the environment of the process that runs the job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

from enlarger.errors import RequestError
from enlarger.importing.jobs import ImportJob, Item, Listed
from enlarger.security.fetch import Fetcher
from enlarger.settings import Settings

PAGE = 1000  # objects listed (and inserted) per batch
_FORMS = "s3://BUCKET/PREFIX, urls:FILE (urls:- for stdin) or images-api:BASE_URL/ACCOUNT_ID"


@dataclass(frozen=True)
class ListingPage:
    entries: list[Listed]
    cursor: str | None  # where the listing continues after this page
    last: bool


class Source(Protocol):
    def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        """The listing from ``cursor`` on (None: from the start), a page at a time."""

    async def read(self, item: Item) -> bytes:
        """One object's bytes, at most the upload limit (larger: InputTooLargeError)."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Named:
    """A parsed ``--from``: a description for people and logs, and the configuration to reopen it."""

    description: str
    config: dict[str, Any]


def _no_credentials(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(f"{what} must be an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise RequestError(f"{what} must not carry credentials: they come from the settings or the environment")


def parse_source(text: str, *, endpoint: str = "", region: str = "us-east-1", variants: bool = False) -> Named:
    """``s3://BUCKET/PREFIX`` (with ``endpoint``), ``urls:FILE`` / ``urls:-``, ``images-api:BASE/ACCOUNT``."""
    if text.startswith("s3://"):
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not bucket:
            raise RequestError(f"the S3 source needs a bucket: s3://BUCKET/PREFIX, got {text!r}")
        if endpoint:
            _no_credentials(endpoint, "the S3 endpoint")
        where = f" at {endpoint}" if endpoint else ""
        config: dict[str, Any] = {
            "kind": "s3",
            "bucket": bucket,
            "prefix": prefix,
            "endpoint": endpoint,
            "region": region,
        }
        return Named(f"s3://{bucket}/{prefix}{where}", config)
    if text.startswith("urls:"):
        path = text.removeprefix("urls:")
        if not path:
            raise RequestError("the URL list source needs a file: urls:FILE, or urls:- for stdin")
        path = path if path == "-" else str(Path(path).resolve())
        return Named(f"urls:{path}", {"kind": "urls", "path": path})
    if text.startswith("images-api:"):
        url = text.removeprefix("images-api:").rstrip("/")
        base, _, account = url.rpartition("/")
        _no_credentials(base, "the Images API base URL")
        if not account:
            raise RequestError(f"the Images API source must end in the account id: BASE_URL/ACCOUNT_ID, got {text!r}")
        config = {"kind": "images-api", "base": base, "account": account, "variants": variants}
        return Named(f"images-api:{base}/{account}", config)
    raise RequestError(f"the source must be {_FORMS}, got {text!r}")


def open_source(job: ImportJob, settings: Settings, fetcher: Fetcher, stdin: TextIO | None = None) -> Source:
    """The source a job's configuration describes, with credentials from ``settings``."""
    config = job.config
    kind = config.get("kind")
    if kind == "s3":
        from enlarger.importing.sources_s3 import S3Source

        return S3Source(config, settings, job.options.concurrency)
    if kind in ("urls", "urls-inline"):
        from enlarger.importing.sources_urls import UrlSource

        return UrlSource(config.get("path"), fetcher, settings.max_upload_bytes, stdin)
    if kind == "images-api":
        from enlarger.importing.sources_api import ApiSource

        return ApiSource(config, settings.import_api_token, fetcher, settings.max_upload_bytes)
    raise RequestError(f"import job {job.id} has an unknown source kind {kind!r}")
