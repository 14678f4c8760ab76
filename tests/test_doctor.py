"""``enlarger doctor`` against a good installation and broken ones, through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from enlarger.catalog.store import Catalog
from enlarger.cli import main
from enlarger.settings import Settings
from tests.backends import make_bucket

Run = tuple[int, dict[str, Any]]


def _doctor(capsys: pytest.CaptureFixture[str], data_dir: Path, *extra: str) -> Run:
    status = main(["doctor", "--json", "--data-dir", str(data_dir), *extra])
    return status, json.loads(capsys.readouterr().out)


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def _failed(report: dict[str, Any]) -> set[str]:
    return {name for name, status in _statuses(report).items() if status == "fail"}


def test_a_good_installation_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    Catalog(Settings(data_dir=data_dir).catalog_url).close()  # created and migrated, as after a first start
    status, report = _doctor(capsys, data_dir)
    assert status == 0
    assert report["ok"] is True
    statuses = _statuses(report)
    expected = {"libvips", "loaders", "savers", "avif", "heic", "data_dir", "database", "storage", "face_model"}
    assert {name for name, s in statuses.items() if s == "ok"} >= expected
    assert statuses["segment_model"] == "warn"  # optional, and not configured
    details = {check["name"]: check["detail"] for check in report["checks"]}
    assert "writable" in details["data_dir"]
    assert "schema at" in details["database"]


def test_the_readable_report_names_each_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["OK", "libvips"]
    assert lines[-1] == "all required checks passed"


def test_an_unwritable_data_dir_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    status, report = _doctor(capsys, blocker / "data")  # cannot be created, even by root
    assert status == 1
    assert report["ok"] is False
    assert "data_dir" in _failed(report)
    assert _statuses(report)["libvips"] == "ok"


def test_an_unreachable_database_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENLARGER_DATABASE_URL", "postgresql+psycopg://enlarger:secret@127.0.0.1:1/enlarger")
    status, report = _doctor(capsys, tmp_path)
    assert status == 1
    assert _failed(report) == {"database"}
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "database")
    assert "cannot reach" in detail and "secret" not in detail  # the password is not printed


def test_a_missing_model_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENLARGER_FACE_MODEL", str(tmp_path / "missing.onnx"))
    monkeypatch.setenv("ENLARGER_SEGMENT_MODEL", str(tmp_path / "also-missing.onnx"))
    status, report = _doctor(capsys, tmp_path)
    assert status == 1
    assert _failed(report) == {"face_model", "segment_model"}
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "face_model")
    assert "missing.onnx" in detail and "does not exist" in detail


@pytest.mark.parametrize(
    ("public_url", "status"),
    [("https://images.example.com", "ok"), ("http://images.example.com", "warn"), ("images.example.com", "fail"),
     ("https://images.example.com/?a=1", "fail")],
)  # fmt: skip
def test_public_url_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, public_url: str, status: str
) -> None:
    monkeypatch.setenv("ENLARGER_PUBLIC_URL", public_url)
    code, report = _doctor(capsys, tmp_path)
    assert _statuses(report)["public_url"] == status
    assert code == (1 if status == "fail" else 0)


@pytest.mark.parametrize("exists", [True, False])
def test_s3_storage_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, exists: bool
) -> None:
    bucket = make_bucket(s3_endpoint) if exists else "no-such-bucket"
    for name, value in [("STORAGE", "s3"), ("S3_ENDPOINT", s3_endpoint), ("S3_BUCKET", bucket),
                        ("S3_ACCESS_KEY_ID", "test"), ("S3_SECRET_ACCESS_KEY", "test")]:  # fmt: skip
        monkeypatch.setenv(f"ENLARGER_{name}", value)
    status, report = _doctor(capsys, tmp_path)
    assert _statuses(report)["storage"] == ("ok" if exists else "fail")
    assert status == (0 if exists else 1)
