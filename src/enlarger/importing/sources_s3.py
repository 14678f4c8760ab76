"""An S3-compatible bucket as an import source (AWS, MinIO, R2, Ceph, ...), through boto3.

Listing pages by ``StartAfter`` the last key of the recorded page, so a restarted listing
continues exactly after it. Sizes come with the listing: an object over the upload limit fails
without being downloaded. Credentials: ``import_s3_*`` settings, else boto3's standard chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles); never stored or logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from enlarger.errors import InputTooLargeError, OriginError, SourceNotFoundError
from enlarger.importing.jobs import Item, Listed
from enlarger.importing.sources import PAGE, ListingPage
from enlarger.settings import Settings


class S3Source:
    def __init__(self, config: dict[str, Any], settings: Settings, concurrency: int) -> None:
        import boto3  # optional dependency (enlarger[s3])
        from botocore.config import Config

        self.bucket: str = config["bucket"]
        self.prefix: str = config["prefix"]
        self.max_bytes = settings.max_upload_bytes
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.get("endpoint") or None,
            region_name=config.get("region") or "us-east-1",
            aws_access_key_id=settings.import_s3_access_key_id or None,
            aws_secret_access_key=settings.import_s3_secret_access_key or None,
            config=Config(max_pool_connections=concurrency + 2, retries={"max_attempts": 3, "mode": "standard"}),
        )

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
