"""create_app and its routes: ``/readyz`` ready only when the cache directory and the catalog can
serve; process-wide libvips state the server sets up (checked in a fresh interpreter each time)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


_PROBE = (
    "import pyvips; before = pyvips.concurrency_get(); "
    "from enlarger.server.app import create_app; from enlarger.settings import Settings; "
    "from pathlib import Path; create_app(Settings(data_dir=Path('data'), vips_concurrency={n})); "
    "print(before, pyvips.concurrency_get())"
)


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_vips_concurrency_sets_libvips_threads_per_image(tmp_path: Path, threads: int) -> None:
    env = {**os.environ, "VIPS_CONCURRENCY": "4"}  # libvips' own default here, so 0 has something to keep
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(n=threads)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = map(int, done.stdout.split())
    assert before == 4
    assert after == (threads or 4)
