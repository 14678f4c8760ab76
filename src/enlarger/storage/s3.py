"""Originals in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...).

A single ``PutObject`` is atomic and acknowledged only when the object is durable, which is
exactly the contract of :class:`~enlarger.storage.base.Storage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from enlarger.storage.base import BlobInfo, BlobMissingError


@dataclass(frozen=True)
class S3Timeouts:
    """How long one S3 call may take: botocore's defaults (60 s reads, retried) let a hung S3 hold a
    thread for minutes; these are short, and the connection pool matches the storage threads."""

    connect: float = 3.0
    read: float = 10.0
    attempts: int = 2
    connections: int = 8


class S3Storage:
    """Blobs as objects ``<prefix><key>`` in one bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        timeouts: S3Timeouts = S3Timeouts(),
    ) -> None:
        import boto3  # optional dependency: only S3 deployments need it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                connect_timeout=timeouts.connect,
                read_timeout=timeouts.read,
                retries={"max_attempts": timeouts.attempts, "mode": "standard"},
                max_pool_connections=timeouts.connections,
            ),
        )
        self._missing = self._client.exceptions.NoSuchKey

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self._missing as exc:
            raise BlobMissingError(key) from exc
        return body

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def list(self, under: str = "") -> Iterator[BlobInfo]:
        """Every blob, or those whose key starts with ``under``."""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + under)
        for page in pages:
            for item in page.get("Contents", []):
                yield BlobInfo(item["Key"][len(self.prefix) :], item["Size"], item["LastModified"])
