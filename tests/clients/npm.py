"""Third-party JavaScript clients from npm, run unchanged by Node against a live Enlarger.

``.ci/run`` installs them (pinned) with ``npm install --prefix tests/.clients …``; elsewhere the
tests skip without them unless ``ENLARGER_REQUIRE_NPM_CLIENTS`` is set (as CI sets it), when a
missing install fails instead — the same switch as the workerd tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALL = HERE.parent / ".clients"
#: what .ci/run installs: the versions these tests were written against
PACKAGES = (
    "cloudflare@7.3.0",
    "unpic@4.2.2",
    "@unpic/core@1.0.3",
    "@nuxt/image@2.1.0",
    "next@16.5.0",
    "react@19",
    "react-dom@19",
    "@cloudflare/images@1.0.2",
)


def node_client(script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``script`` (a module beside this file) from the install, return the JSON it prints."""
    node = shutil.which("node")
    if node is None or not (INSTALL / "node_modules").is_dir():
        message = f"the npm clients are not installed (npm install --prefix {INSTALL} {' '.join(PACKAGES)})"
        if os.environ.get("ENLARGER_REQUIRE_NPM_CLIENTS"):
            pytest.fail(message)
        pytest.skip(message)
    shutil.copy(HERE / script, INSTALL / script)  # ES modules resolve packages from their own folder
    done = subprocess.run(
        [node, str(INSTALL / script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)
