"""Pick the storage backend the settings name."""

from __future__ import annotations

from enlarger import tracing
from enlarger.settings import Settings
from enlarger.storage.base import Storage
from enlarger.storage.local import LocalStorage
from enlarger.storage.s3 import S3Storage, S3Timeouts
from enlarger.storage.traced import TracedStorage


def open_storage(settings: Settings) -> Storage:
    """The backend, seen through trace spans when tracing is on (:mod:`enlarger.tracing`)."""
    storage = _backend(settings)
    return TracedStorage(storage) if tracing.ENABLED else storage


def _backend(settings: Settings) -> Storage:
    if settings.storage == "s3":
        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            timeouts=S3Timeouts(
                settings.s3_connect_timeout,
                settings.s3_read_timeout,
                settings.s3_max_attempts,
                settings.storage_concurrency,
            ),
        )
    return LocalStorage(settings.data_dir / "originals")
