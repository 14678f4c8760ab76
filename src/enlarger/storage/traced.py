"""A storage backend seen through trace spans (only built when tracing is on: untraced
servers call their backend directly)."""

from __future__ import annotations

from collections.abc import Iterator

from enlarger import tracing
from enlarger.storage.base import BlobInfo, Storage


class TracedStorage:
    """``inner``, with one span per call (its backend, operation, key and size)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self._backend = type(inner).__name__

    def put(self, key: str, data: bytes) -> None:
        with tracing.span("storage put", self._attributes(key, len(data))):
            self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        with tracing.span("storage get", self._attributes(key)) as span:
            data = self.inner.get(key)
            span.set_attribute("enlarger.storage.bytes", len(data))
            return data

    def delete(self, key: str) -> None:
        with tracing.span("storage delete", self._attributes(key)):
            self.inner.delete(key)

    def list(self) -> Iterator[BlobInfo]:
        with tracing.span("storage list", self._attributes()):
            listed = list(self.inner.list())
        return iter(listed)

    def _attributes(self, key: str = "", size: int | None = None) -> dict[str, str | int]:
        attributes: dict[str, str | int] = {"enlarger.storage.backend": self._backend}
        if key:
            attributes["enlarger.storage.key"] = key
        if size is not None:
            attributes["enlarger.storage.bytes"] = size
        return attributes
