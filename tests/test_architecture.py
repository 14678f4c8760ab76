"""The layer picture of docs/architecture.md, kept true: import-linter's contracts (``.importlinter``)
run over the package as it is, so an import that crosses a layer fails the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # installed beside this interpreter (dev extra)


def _lint(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [str(LINT_IMPORTS), "--no-cache", str(config)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_every_contract_is_kept() -> None:
    outcome = _lint(ROOT / ".importlinter")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert " broken" in outcome.stdout and "0 broken" in outcome.stdout


def test_a_broken_contract_fails(tmp_path: Path) -> None:
    # the check is live: a contract the code does break (the pipeline reads codecs) is reported
    config = tmp_path / "contracts.ini"
    config.write_text(
        "[importlinter]\nroot_package = enlarger\n\n"
        "[importlinter:contract:wrong]\nname = wrong on purpose\ntype = forbidden\n"
        "source_modules =\n    enlarger.pipeline\nforbidden_modules =\n    enlarger.codecs\n"
    )
    outcome = _lint(config)
    assert outcome.returncode == 1
    assert "enlarger.pipeline is not allowed to import enlarger.codecs" in outcome.stdout
