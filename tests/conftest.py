"""Shared fixtures: small images built by code, and real PostgreSQL / S3 servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import fresh_database, postgres_server, s3_server
from tests.imaging import gradient, quadrants, save


@pytest.fixture(scope="session")
def photo_jpeg() -> bytes:
    """320×240 colour ramp as JPEG."""
    return save(gradient(320, 240), "jpeg", Q=95)


@pytest.fixture(scope="session")
def quad_png() -> bytes:
    """200×100 four-colour quadrants as lossless PNG."""
    return save(quadrants(200, 100), "png")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """Admin URL (no database) of a PostgreSQL server private to this test worker."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog's database URL, once on an SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: str = request.getfixturevalue("postgres")
    return fresh_database(server)
