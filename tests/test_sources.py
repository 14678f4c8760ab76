"""Local origin sources: identity from a stat done on the event loop, remembered for a moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from enlarger import sources
from enlarger.errors import InvalidSourceError, SourceForbiddenError, SourceNotFoundError
from enlarger.security.addresses import AddressGuard
from enlarger.security.fetch import Fetcher
from enlarger.sources import Sources

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
