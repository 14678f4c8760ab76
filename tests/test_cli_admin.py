"""Operator commands against a real catalog file: what they print and what they change."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from enlarger.catalog.store import Catalog
from enlarger.cli import main
from enlarger.security.signing import verify
from enlarger.settings import Settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_first_steps_and_token_lifecycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    account = run(capsys, "accounts", "create", "--name", "shop", "--data-dir", data, "--json")
    assert isinstance(account, dict) and len(account["id"]) == 32 and len(account["hash"]) == 22
    listed = run(capsys, "accounts", "list", "--data-dir", data, "--json")
    assert isinstance(listed, list) and [a["id"] for a in listed] == [account["id"]]
    token = run(capsys, "tokens", "create", "--account", account["id"], "--data-dir", data, "--json")
    assert isinstance(token, dict) and token["token"].startswith("enl_")
    catalog = Catalog(Settings(data_dir=Path(data)).catalog_url)
    assert catalog.token_account(token["token"]) == account["id"]
    run(capsys, "tokens", "revoke", token["id"], "--data-dir", data, "--json")
    assert catalog.token_account(token["token"]) is None
    tokens = run(capsys, "tokens", "list", "--account", account["id"], "--data-dir", data, "--json")
    assert isinstance(tokens, list) and tokens[0]["revoked"] is not None
    flexible = run(
        capsys, "accounts", "update", account["id"], "--flexible-variants", "on", "--data-dir", data, "--json"
    )
    assert isinstance(flexible, dict) and flexible["flexible_variants"] is True


def test_keys_rotate_and_sign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    account = run(capsys, "accounts", "create", "--data-dir", data, "--json")
    assert isinstance(account, dict)
    before = run(capsys, "keys", "list", "--account", account["id"], "--data-dir", data, "--json")
    rotated = run(capsys, "keys", "rotate", "--account", account["id"], "--data-dir", data, "--json")
    assert isinstance(before, list) and isinstance(rotated, dict) and rotated["value"] != before[0]["value"]
    path = f"/{account['hash']}/img/public"
    signed = run(capsys, "sign", path, "--account", account["id"], "--expires-in", "60", "--data-dir", data, "--json")
    assert isinstance(signed, dict)
    url_path, query = signed["url"].split("?", 1)
    assert url_path == path
    verify([url_path], query, [rotated["value"]], now=time.time())


def test_gc_reports_what_it_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    catalog = Catalog(Settings(data_dir=data).catalog_url)
    account = catalog.create_account()
    catalog.close()
    orphan = data / "originals" / account.id / ("b" * 32)  # <account id>/<blob id>, as uploads write them
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    assert main(["--config", str(_config(tmp_path)), "gc", "--data-dir", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": 1}
    assert not orphan.exists()


def test_gc_refuses_a_storage_of_unknown_accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 25.1: a catalog that cannot prove the storage is its own deletes nothing, and says why."""
    data = tmp_path / "data"
    original = data / "originals" / ("a" * 32) / ("b" * 32)
    original.parent.mkdir(parents=True)
    original.write_bytes(b"x")
    assert main(["--config", str(_config(tmp_path)), "gc", "--data-dir", str(data)]) == 6
    assert "check database_url; nothing was deleted" in capsys.readouterr().err
    assert original.exists()


def test_unknown_account_is_a_readable_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--account", "nope", "--data-dir", str(tmp_path)]) == 1
    assert "account 'nope' not found" in capsys.readouterr().err


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "enlarger.toml"
    path.write_text("orphan_grace_seconds = 0\n", encoding="utf-8")
    return path
