"""Local origin sources (identity from a stat done on the event loop, remembered for a moment) and
remote ones (one fetch for concurrent misses)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from enlarger import sources
from enlarger.errors import InvalidSourceError, OriginError, SourceForbiddenError, SourceNotFoundError
from enlarger.security.addresses import AddressGuard
from enlarger.security.fetch import Fetcher
from enlarger.source_cache import SourceCache
from enlarger.sources import Sources
from tests.live import Origin, serve

MEMO_SECONDS = 1.0


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    root = tmp_path / "origin"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"first")
    return root


@pytest.fixture
def local(origin: Path, clock: Clock) -> Sources:
    fetcher = Fetcher(AddressGuard(), connect_timeout=1, total_timeout=1, max_redirects=0, max_bytes=1000)
    return Sources(
        str(origin),
        fetcher,
        allow_url=lambda _url: False,
        max_bytes=1000,
        revalidate_seconds=60,
        file_identity_seconds=MEMO_SECONDS,
        clock=clock,
    )


def identity(local: Sources, source: str) -> str:
    async def locate() -> str:
        return (await local.locate(source)).identity

    return anyio.run(locate)


def test_a_changed_file_is_seen_once_the_memo_expires(local: Sources, origin: Path, clock: Clock) -> None:
    before = identity(local, "a.jpg")
    (origin / "a.jpg").write_bytes(b"second, longer")
    clock.now += MEMO_SECONDS / 2
    assert identity(local, "a.jpg") == before  # remembered: no stat within the window
    clock.now += MEMO_SECONDS / 2
    after = identity(local, "a.jpg")
    assert after != before
    assert after.endswith(f":{len(b'second, longer')}:{(origin / 'a.jpg').stat().st_mtime_ns}")


def test_the_bytes_read_are_those_of_the_file(local: Sources) -> None:
    async def read() -> bytes:
        return await (await local.locate("/a.jpg")).read()

    assert anyio.run(read) == b"first"


def test_locating_a_file_needs_no_worker_thread(local: Sources, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a stat does not need a thread hop")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)
    assert identity(local, "a.jpg").startswith("file:")


def test_failures_are_not_remembered(local: Sources, origin: Path) -> None:
    with pytest.raises(SourceNotFoundError):
        identity(local, "b.jpg")
    (origin / "b.jpg").write_bytes(b"now here")
    assert identity(local, "b.jpg").startswith("file:")


def test_paths_leaving_the_origin_are_refused(local: Sources, origin: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    (origin / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    with pytest.raises(InvalidSourceError):
        identity(local, "../secret.jpg")
    for _ in range(2):  # the refusal is not remembered as a success either
        with pytest.raises(SourceForbiddenError):
            identity(local, "link.jpg")


def test_the_memo_is_bounded(local: Sources, origin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_FILE_IDENTITY_LIMIT", 2)
    for name in ("b.jpg", "c.jpg"):
        (origin / name).write_bytes(name.encode())
    first = identity(local, "a.jpg")
    identity(local, "b.jpg")
    identity(local, "c.jpg")  # pushes a.jpg, the oldest, out
    (origin / "a.jpg").write_bytes(b"changed")
    assert identity(local, "a.jpg") != first  # stat'ed again although the window is still open


# --- remote sources: one fetch for concurrent misses, bytes kept in the source cache (issue 26)

REMOTE = "/img/photo.jpg"


@pytest.fixture
def remote() -> Iterator[tuple[Origin, str]]:
    origin = Origin()
    origin.files[REMOTE] = b"\xff\xd8\xff remote original" * 100
    with serve(origin.app()) as base:
        yield origin, base


def remote_sources(base: str, data: Path | None) -> Sources:
    fetcher = Fetcher(
        AddressGuard(), connect_timeout=5, total_timeout=30, max_redirects=0, max_bytes=10_000, trusted_origin=base
    )
    cache = SourceCache(data, 1_000_000) if data is not None else None
    return Sources(base, fetcher, allow_url=lambda _url: False, max_bytes=10_000, revalidate_seconds=60, cache=cache)


async def read_concurrently(remote_sources: Sources, count: int) -> list[bytes]:
    async def one() -> bytes:
        return await (await remote_sources.locate(REMOTE)).read()

    return list(await asyncio.gather(*(one() for _ in range(count))))


@pytest.mark.parametrize("cached", [True, False])
def test_concurrent_misses_of_one_source_share_one_fetch(
    remote: tuple[Origin, str], tmp_path: Path, cached: bool
) -> None:
    origin, base = remote
    located = remote_sources(base, tmp_path / "sources" if cached else None)
    assert anyio.run(read_concurrently, located, 6) == [origin.files[REMOTE]] * 6
    assert origin.hits(REMOTE) == 1  # before: six fetches


def test_concurrent_reads_of_a_located_source_share_one_fetch(remote: tuple[Origin, str]) -> None:
    """Without the source cache, the identity is remembered and the bytes are not: misses arriving
    together within the revalidation window still download them once."""
    origin, base = remote
    located = remote_sources(base, None)

    async def twice() -> list[bytes]:
        await read_concurrently(located, 1)
        return await read_concurrently(located, 6)

    assert anyio.run(twice) == [origin.files[REMOTE]] * 6
    assert origin.hits(REMOTE) == 2  # the first miss, then one for the six


def test_a_failed_fetch_fails_every_waiter_and_is_not_remembered(remote: tuple[Origin, str]) -> None:
    origin, base = remote
    origin.status[REMOTE] = 503
    located = remote_sources(base, None)

    async def fail_then_succeed() -> list[bytes]:
        with pytest.raises(OriginError):
            await read_concurrently(located, 3)
        assert origin.hits(REMOTE) == 1
        del origin.status[REMOTE]
        return await read_concurrently(located, 1)

    assert anyio.run(fail_then_succeed) == [origin.files[REMOTE]]
