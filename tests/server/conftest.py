"""A running service per test, over a local origin directory with generated images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.server.app import create_app
from enlarger.settings import Settings
from tests.imaging import gradient, quadrants, save
from tests.live import serve

Start = Callable[..., httpx.Client]


@pytest.fixture
def origin_dir(tmp_path: Path) -> Path:
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "photo.jpg").write_bytes(save(gradient(640, 480), "jpeg", Q=90))
    (origin / "alpha.png").write_bytes(save(quadrants(200, 100, alpha=True), "png"))
    (origin / "nested").mkdir()
    (origin / "nested" / "quad.png").write_bytes(save(quadrants(200, 100), "png"))
    (origin / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return origin


@pytest.fixture
def start(tmp_path: Path, origin_dir: Path) -> Iterator[Start]:
    """``start(**settings)`` runs a service and returns a client bound to it."""
    with ExitStack() as stack:

        def run(**overrides: Any) -> httpx.Client:
            values: dict[str, Any] = {"data_dir": tmp_path / "data", "origin": str(origin_dir)}
            values.update(overrides)
            base = stack.enter_context(serve(create_app(Settings(**values))))
            return stack.enter_context(httpx.Client(base_url=base, timeout=30))

        yield run


@pytest.fixture
def client(start: Start) -> httpx.Client:
    return start()
