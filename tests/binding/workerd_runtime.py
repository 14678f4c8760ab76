"""The real Workers runtime for the round-trip tests: workerd from npm, running ``workerd/worker.js``.

``.ci/run`` installs it with ``npm install --prefix tests/.workerd workerd@<pinned>``; elsewhere the
tests look for ``ENLARGER_WORKERD`` or ``workerd`` on the PATH, and skip without it unless
``ENLARGER_REQUIRE_WORKERD`` is set (as CI sets it), when a missing runtime fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live import free_port, stop

HERE = Path(__file__).resolve().parent / "workerd"
TESTS = Path(__file__).resolve().parents[1]
#: Where ``.ci/run`` installs each tested release: the current one, and the oldest that has the
#: images binding (it sends transforms without ``imageIndex``), which clients still run.
INSTALLS = {"current": TESTS / ".workerd", "oldest": TESTS / ".workerd-oldest"}
#: The Worker's compatibility date, or the binary's own release date when that is older.
COMPATIBILITY_DATE = "2025-04-01"


def workerd_binary(release: str = "current") -> str:
    """The workerd executable of ``release``, or skip (fail under ``ENLARGER_REQUIRE_WORKERD``)."""
    installed = str(INSTALLS[release] / "node_modules" / ".bin" / "workerd")
    override = os.environ.get("ENLARGER_WORKERD") if release == "current" else None
    candidates = [override, installed] + ([shutil.which("workerd")] if release == "current" else [])
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    message = f"workerd ({release}) is not installed (see .ci/run: npm install --prefix {INSTALLS[release]})"
    if os.environ.get("ENLARGER_REQUIRE_WORKERD"):
        pytest.fail(message)
    pytest.skip(message)


def compatibility_date(binary: str) -> str:
    """The newest date both the Worker and ``binary`` support (an older workerd refuses later dates)."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    released = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", version)
    if released is None:
        return COMPATIBILITY_DATE
    return min(COMPATIBILITY_DATE, "-".join(released.groups()))


def _wait_for(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"workerd exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("workerd did not start listening")


@contextmanager
def run_worker(enlarger_url: str, directory: Path, release: str = "current") -> Iterator[str]:
    """Run the test Worker with ``env.IMAGES`` fetching from ``enlarger_url``; yields the Worker's URL."""
    binary = workerd_binary(release)
    worker_port = free_port()
    shutil.copy(HERE / "worker.js", directory / "worker.js")
    config = (HERE / "config.capnp.template").read_text()
    config = config.replace("@ENLARGER_PORT@", enlarger_url.rsplit(":", 1)[1])
    config = config.replace("@WORKER_PORT@", str(worker_port)).replace("@WORKER_JS@", "worker.js")
    config = config.replace("@COMPATIBILITY_DATE@", compatibility_date(binary))
    (directory / "config.capnp").write_text(config)
    log = (directory / "workerd.log").open("wb")
    process = subprocess.Popen([binary, "serve", "config.capnp"], cwd=directory, stdout=log, stderr=log)
    try:
        _wait_for(worker_port, process, 60)
        yield f"http://127.0.0.1:{worker_port}"
    finally:
        stop(process, 10)
        log.close()
