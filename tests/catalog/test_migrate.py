"""Migrations run by several processes at the same moment (replicas started together on a new version)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from enlarger.catalog.migrate import alembic_config
from tests.live import wait_for

_MIGRATE = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
Path(sys.argv[3]).touch()  # ready: imported everything
while not go.exists():
    time.sleep(0.001)
from enlarger.catalog.store import Catalog
Catalog(sys.argv[1]).close()
"""


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _migrate_together(url: str, tmp_path: Path, count: int) -> list[subprocess.CompletedProcess[str]]:
    """``count`` processes open a fresh catalog at once: each waits for one start signal after importing."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, url, str(go), str(tmp_path / f"ready-{n}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(count)
    ]
    wait_for(lambda: all((tmp_path / f"ready-{n}").exists() for n in range(count)), timeout=120)
    go.touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_replicas_migrating_a_fresh_catalog_at_once_all_succeed(tmp_path: Path, catalog_url: str) -> None:
    """Issue 25.2: 4 processes migrating a fresh PostgreSQL at once failed 7–9 of 12 times
    (``DuplicateTable alembic_version``); under the migration lock every one succeeds."""
    results = _migrate_together(catalog_url, tmp_path, 4)
    assert [r.returncode for r in results] == [0] * 4, [r.stderr[-800:] for r in results if r.returncode]
    engine = create_engine(catalog_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [_head()]
        assert len(c.execute(text("SELECT value FROM catalog_meta")).scalars().all()) == 1  # one identity
    engine.dispose()
