"""The container image definition, checked without building it (no image builder or hadolint
here): its essentials parsed from the Dockerfile, and its health check run against a live server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from enlarger.server.app import create_app
from enlarger.settings import Settings
from tests.live import serve

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _all(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def _env() -> dict[str, str]:
    """The final stage's ENV (``KEY=value`` pairs)."""
    stages = "\n".join(f"{w} {r}" for w, r in instructions()).split("\nFROM ")
    return dict(
        re.findall(r"(\w+)=(\S+)", "\n".join(line for line in stages[-1].splitlines() if line.startswith("ENV")))
    )


def test_the_base_is_a_pinned_slim_python() -> None:
    [default] = [rest for rest in _all("ARG") if rest.startswith("PYTHON_IMAGE=")]
    image = default.removeprefix("PYTHON_IMAGE=")
    name, _, tag = image.partition(":")
    assert name == "python"
    assert "slim" in tag
    assert tag != "latest"
    assert re.match(r"3\.\d+-slim-\w+$", tag)  # a Python minor and a Debian release
    for base in _all("FROM"):
        assert "latest" not in base
        assert base.split()[0] in ("${PYTHON_IMAGE}", image)


def test_the_server_runs_unprivileged_with_its_data_on_a_volume() -> None:
    users = _all("USER")
    assert users, "no USER: the server would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    stages = "\n".join(f"{w} {r}" for w, r in instructions()).split("\nFROM ")
    assert re.search(rf"useradd --system --uid (\d+) --gid {user} .*--shell /usr/sbin/nologin {user}", stages[-1])
    env = _env()
    [volume] = _all("VOLUME")
    assert json.loads(volume) == [env["ENLARGER_DATA_DIR"]]
    assert f"chown {user}:{user} {env['ENLARGER_DATA_DIR']}" in stages[-1]
    assert env["ENLARGER_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert _all("EXPOSE") == [env["ENLARGER_PORT"]]


def test_the_image_installs_extras_that_exist() -> None:
    [install] = [rest for rest in _all("RUN") if "pip install" in rest]
    [extras] = re.findall(r'"\.\[([\w,]+)\]"', install)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.split(",")) <= set(declared)
    assert "otel" in extras.split(",")
    copied = [rest.split()[:-1] for rest in _all("COPY") if "--from" not in rest]
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    for sources in copied:  # each copied path is in the build context the .dockerignore leaves
        for source in sources:
            assert (ROOT / source).exists()
            assert f"!{source.rstrip('/')}/" in allowed or f"!{source}" in allowed
    [entry] = _all("ENTRYPOINT")
    assert json.loads(entry)[0] in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(_all("CMD")[-1]) == ["serve"]


def _healthcheck() -> list[str]:
    [check] = _all("HEALTHCHECK")
    command = json.loads(check[check.index("CMD ") + 4 :])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_health_check_passes_on_a_live_server_and_fails_without_one(tmp_path: Path) -> None:
    command = _healthcheck()
    with serve(create_app(Settings(data_dir=tmp_path / "data"))) as base:
        port = base.rsplit(":", 1)[1]
        ok = subprocess.run(command, env={**os.environ, "ENLARGER_PORT": port}, capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
    down = subprocess.run(
        command, env={**os.environ, "ENLARGER_PORT": str(_free_port())}, capture_output=True, timeout=30
    )
    assert down.returncode != 0


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_operations_guide_names_the_probes(path: str) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert path in guide
