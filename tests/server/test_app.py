"""create_app: process-wide libvips state the server sets up (checked in a fresh interpreter each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
