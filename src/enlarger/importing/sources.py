"""How ``--from`` names an import source, and opening one for a job (the kinds: ``sources_s3``,
``sources_urls``, ``sources_api``, each a :class:`~enlarger.importing.listing.Source`).

The job keeps the source's description and configuration, never its
credentials: those come from the settings or the environment of the process that runs the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from enlarger.errors import InvalidSourceError, RequestError
from enlarger.importing.jobs import ImportJob
from enlarger.importing.listing import Source
from enlarger.importing.sources_api import ApiSource
from enlarger.importing.sources_s3 import S3Source
from enlarger.importing.sources_urls import UrlSource
from enlarger.security.credentials import belongs_to
from enlarger.security.fetch import Fetcher, checked_url
from enlarger.settings import Settings

_FORMS = "s3://BUCKET/PREFIX, urls:FILE (urls:- for stdin) or images-api:BASE_URL/ACCOUNT_ID"


@dataclass(frozen=True)
class Named:
    """A parsed ``--from``: a description for people and logs, and the configuration to reopen it."""

    description: str
    config: dict[str, Any]


def _no_credentials(url: str, what: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here, not later)
    except ValueError as exc:
        raise RequestError(f"{what} is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(f"{what} must be an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise RequestError(f"{what} must not carry credentials: they come from the settings or the environment")


def _endpoint(url: str) -> str:
    """An S3 endpoint as boto3 will get it: strictly parsed, its host folded to ASCII (boto3 refuses
    any other), without credentials."""
    _no_credentials(url, "the S3 endpoint")
    try:
        return checked_url(url)[0]
    except InvalidSourceError as exc:
        reason = exc.message.removeprefix("the source URL is malformed: ")
        raise RequestError(f"the S3 endpoint_url is malformed: {reason}") from None


def token_refused(base: str) -> RequestError:
    """The rule for credentials (:mod:`enlarger.security.credentials`) as a tenant sees it."""
    return RequestError(
        f"the server's import token is sent only to the base URLs the operator listed in import_api_token_urls, "
        f"and {base} is not under one of them: an images-api import from there cannot be started through the API"
    )


def parse_source(text: str, *, endpoint: str = "", region: str = "us-east-1", variants: bool = False) -> Named:
    """``s3://BUCKET/PREFIX`` (with ``endpoint``), ``urls:FILE`` / ``urls:-``, ``images-api:BASE/ACCOUNT``."""
    if text.startswith("s3://"):
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not bucket:
            raise RequestError(f"the S3 source needs a bucket: s3://BUCKET/PREFIX, got {text!r}")
        if endpoint:
            endpoint = _endpoint(endpoint)
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
    """The source a job's configuration describes, with credentials from ``settings``.

    A job started through the API (``runner == "server"``) names a tenant's destinations: the
    server's credentials go only to those the operator listed for them, and its S3 connections are
    checked by the address policy at connect time (the fetcher's are, always).
    """
    config = job.config
    kind = config.get("kind")
    tenant = job.runner == "server"
    if kind == "s3":
        return S3Source(config, settings, job.options.concurrency, tenant=tenant)
    if kind in ("urls", "urls-inline"):
        return UrlSource(config.get("path"), fetcher, settings.max_upload_bytes, stdin)
    if kind == "images-api":
        if tenant and not belongs_to(config["base"], settings.import_api_token_urls):
            raise token_refused(config["base"])
        return ApiSource(config, settings.import_api_token, fetcher, settings.max_upload_bytes)
    raise RequestError(f"import job {job.id} has an unknown source kind {kind!r}")
