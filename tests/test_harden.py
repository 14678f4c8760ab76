"""harden: importing enlarger leaves process-wide state alone; hardening blocks foreign loaders.

Each case runs in a fresh interpreter, because hardening cannot be undone in this one (and the
test session has long since decoded images, which hardens it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import json, sys
import PIL.Image
import pyvips

limit_before = PIL.Image.MAX_IMAGE_PIXELS
matrix = sys.argv[1]

def matrix_loads():
    try:
        return pyvips.Image.matrixload(matrix).avg() == 2.5
    except pyvips.Error:
        return False

import enlarger
state = {"imported": [PIL.Image.MAX_IMAGE_PIXELS == limit_before, matrix_loads()]}
exec(sys.argv[2])
state["after"] = [PIL.Image.MAX_IMAGE_PIXELS == limit_before, matrix_loads()]
print(json.dumps(state))
"""

_SAMPLE_BMP = (
    "import io; from PIL import Image; b = io.BytesIO(); Image.new('RGB', (8, 4), 'red').save(b, 'BMP'); "
    "r = enlarger.transform(b.getvalue(), 'width=4,format=png'); assert (r.width, r.height) == (4, 2)"
)


def _run(tmp_path: Path, action: str) -> dict[str, list[bool]]:
    matrix = tmp_path / "m.mat"
    matrix.write_text("2 2\n1 2\n3 4\n")  # libvips' matrix format: a loader Enlarger never needs
    env = {**os.environ, "ENLARGER_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(matrix), action],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    result: dict[str, list[bool]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_enlarger_changes_no_global_state(tmp_path: Path) -> None:
    state = _run(tmp_path, "pass")
    assert state["imported"] == [True, True]  # Pillow's bomb limit as it was; the matrix loader still runs
    assert state["after"] == [True, True]


@pytest.mark.parametrize(
    "action",
    [
        "enlarger.harden(); enlarger.harden()",  # idempotent
        _SAMPLE_BMP,  # the engine hardens itself before reading any image, BMP through Pillow included
        "from enlarger.server.app import create_app; from enlarger.settings import Settings; "
        "from pathlib import Path; create_app(Settings(data_dir=Path('data')))",
        "from enlarger.cli import main; main(['docs', 'settings'])",
    ],
    ids=["harden", "transform", "create_app", "cli"],
)
def test_hardening_refuses_foreign_loaders_and_leaves_pillow_alone(tmp_path: Path, action: str) -> None:
    state = _run(tmp_path, action)
    assert state["imported"] == [True, True]
    assert state["after"] == [True, False]  # matrixload is blocked; MAX_IMAGE_PIXELS untouched


def test_hardened_engine_still_reads_every_registered_format() -> None:
    from enlarger import codecs, formats, harden
    from tests.test_codecs import BUILDERS

    harden()
    seen = set()
    for expected, build in BUILDERS.values():
        header = codecs.probe(build())
        image = codecs.load(build(), header, (16, 8), all_frames=False)
        assert (image.width, image.height) == (16, 8), expected
        seen.add(header.format)
    assert seen == set(formats.SPECS) - {"svg"}  # SVG is read only after sanitizing (tests/security/test_svg.py)
