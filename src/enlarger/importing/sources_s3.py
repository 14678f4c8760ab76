"""An S3-compatible bucket as an import source (AWS, MinIO, R2, Ceph, ...), through boto3.

Listing pages by ``StartAfter`` the last key of the recorded page, so a restarted listing
continues exactly after it. Sizes come with the listing: an object over the upload limit fails
without being downloaded. Credentials: ``import_s3_*`` settings, else boto3's standard chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles); never stored or logged.

A job started through the API reads a tenant's endpoint: its requests are signed only when the
operator listed that endpoint in ``import_s3_credential_endpoints`` (otherwise they go unsigned:
public buckets), and every connection boto3 opens is checked by the address policy when it is
opened and goes to the address that was checked — the name is not resolved once at job creation
and again, differently, by boto3 (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from enlarger.errors import EnlargerError, InputTooLargeError, OriginError, RequestError, SourceNotFoundError
from enlarger.importing.jobs import Item, Listed
from enlarger.importing.listing import PAGE, ListingPage
from enlarger.security.addresses import AddressGuard, parse_networks
from enlarger.security.credentials import belongs_to
from enlarger.settings import Settings

#: the ``import_s3_credential_endpoints`` entry for AWS's own endpoints (a job without endpoint_url)
AWS = "aws"


def signs(endpoint: str, settings: Settings) -> bool:
    """Whether a tenant's job may sign its requests to ``endpoint`` with the server's credentials."""
    listed = settings.import_s3_credential_endpoints
    return AWS in listed if not endpoint else belongs_to(endpoint, listed)


class S3Source:
    def __init__(self, config: dict[str, Any], settings: Settings, concurrency: int, *, tenant: bool = False) -> None:
        import boto3  # optional dependency (enlarger[s3])
        from botocore import UNSIGNED
        from botocore.config import Config

        self.bucket: str = config["bucket"]
        self.prefix: str = config["prefix"]
        self.max_bytes = settings.max_upload_bytes
        endpoint = config.get("endpoint") or ""
        signed = not tenant or signs(endpoint, settings)
        options = Config(
            max_pool_connections=concurrency + 2,
            retries={"max_attempts": 3, "mode": "standard"},
            **({} if signed else {"signature_version": UNSIGNED}),
        )
        try:
            self._client: Any = boto3.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=config.get("region") or "us-east-1",
                aws_access_key_id=(settings.import_s3_access_key_id or None) if signed else None,
                aws_secret_access_key=(settings.import_s3_secret_access_key or None) if signed else None,
                config=options,
            )
        except ValueError as exc:  # boto3 refuses the endpoint (a host it cannot use): the job fails
            raise RequestError(f"the S3 endpoint {endpoint!r} cannot be used: {exc}") from exc
        if tenant:
            _check_connections(self._client, AddressGuard(parse_networks(settings.fetch_allowed_networks)))

    async def pages(self, cursor: str | None) -> AsyncIterator[ListingPage]:
        while True:
            page = await anyio.to_thread.run_sync(self._list, cursor)
            yield page
            if page.last:
                return
            cursor = page.cursor

    def _list(self, cursor: str | None) -> ListingPage:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": PAGE}
        if cursor:
            request["StartAfter"] = cursor
        try:
            answer = self._client.list_objects_v2(**request)
        except (ClientError, BotoCoreError) as exc:
            _refused(exc)
            raise OriginError(f"listing s3://{self.bucket}/{self.prefix} failed: {exc}") from exc
        contents = answer.get("Contents", [])
        entries = [
            Listed(o["Key"], int(o["Size"]), o["Key"], {"filename": o["Key"].rsplit("/", 1)[-1]})
            for o in contents
            if not o["Key"].endswith("/")  # "folder" markers are not objects to import
        ]
        last_key = contents[-1]["Key"] if contents else cursor
        return ListingPage(entries, last_key, last=not answer.get("IsTruncated"))

    async def read(self, item: Item) -> bytes:
        return await anyio.to_thread.run_sync(self._get, item.key)

    def _get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            body = answer["Body"]
            try:
                if int(answer.get("ContentLength") or 0) > self.max_bytes:
                    raise self._too_large()
                data: bytes = body.read(self.max_bytes + 1)
            finally:
                body.close()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise SourceNotFoundError(f"s3://{self.bucket}/{key} no longer exists") from exc
            if code in ("AccessDenied", "403"):
                raise OriginError(
                    f"reading s3://{self.bucket}/{key} was refused ({code})", code=9408, status=408
                ) from exc
            raise OriginError(f"reading s3://{self.bucket}/{key} failed ({code or exc})") from exc
        except BotoCoreError as exc:
            _refused(exc)
            raise OriginError(f"reading s3://{self.bucket}/{key} failed ({exc})") from exc
        if len(data) > self.max_bytes:
            raise self._too_large()
        return data

    def _too_large(self) -> InputTooLargeError:
        return InputTooLargeError(
            f"the object is larger than the upload limit of {self.max_bytes:,} bytes", code=5413, status=413
        )

    async def aclose(self) -> None:
        self._client.close()


def _refused(exc: Exception) -> None:
    """The address policy's refusal, which botocore wraps (``HTTPClientError``), as itself."""
    inner = getattr(exc, "kwargs", {}).get("error")
    if isinstance(inner, EnlargerError):
        raise inner from exc


def _check_connections(client: Any, guard: AddressGuard) -> None:
    """Every connection ``client`` opens goes to an address ``guard`` checked when it was opened.

    botocore opens its connections through urllib3 pools; the pools' connection classes are
    replaced by ones whose ``_new_conn`` resolves the host through the guard and connects to the
    checked address (TLS still verifies, and SNI still names, the endpoint's host).
    """
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    def checked(base: Any) -> type:
        def _new_conn(self: Any) -> Any:
            name = self._dns_host.rstrip(".")
            addresses = guard.resolve_blocking(name, self.port)
            if getattr(self, "server_hostname", "") is None:
                self.server_hostname = name
            failure: Exception | None = None
            for address in addresses:
                self._dns_host = address
                try:
                    return base._new_conn(self)
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    failure = exc
                finally:
                    self._dns_host = name
            assert failure is not None
            raise failure

        return type(f"Checked{base.__name__}", (base,), {"_new_conn": _new_conn})

    http = type("CheckedHTTPPool", (AWSHTTPConnectionPool,), {"ConnectionCls": checked(AWSHTTPConnection)})
    https = type("CheckedHTTPSPool", (AWSHTTPSConnectionPool,), {"ConnectionCls": checked(AWSHTTPSConnection)})
    session = client._endpoint.http_session
    session._pool_classes_by_scheme = {"http": http, "https": https}
    session._manager.pool_classes_by_scheme = session._pool_classes_by_scheme
