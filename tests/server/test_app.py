"""``/readyz``: ready only when the cache directory and the catalog can serve."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.backends import fresh_database
from tests.server.conftest import Start


def test_readyz_is_503_without_the_cache_directory(start: Start, tmp_path: Path) -> None:
    client = start()
    assert client.get("/readyz").text == "ready\n"
    shutil.rmtree(tmp_path / "data" / "cache")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.text == "cache directory missing\n"
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_is_503_when_the_catalog_is_unreachable(start: Start, postgres: str) -> None:
    url = fresh_database(postgres)
    client = start(database_url=url)
    assert client.get("/readyz").text == "ready\n"
    name = url.rsplit("/", 1)[1]
    admin = create_engine(f"{postgres}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))  # ends the service's sessions too
    admin.dispose()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.text == "catalog unavailable\n"
