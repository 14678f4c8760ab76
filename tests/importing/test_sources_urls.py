"""URL lists: the formats read, and an import through the SSRF-safe fetcher from a loopback origin."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from enlarger.catalog.store import Account, Catalog
from enlarger.cli import main
from enlarger.importing.jobs import JobStore
from enlarger.importing.sources_urls import read_entries
from enlarger.settings import Settings
from tests.importing.conftest import HOSTILE_SVG, small_images
from tests.live import Origin, serve
from tests.test_hosting import _refuse_filename_in_database


def test_formats_are_told_by_the_first_line() -> None:
    csv_list = 'url,id,metadata,creator,requireSignedURLs\nhttp://a.test/x.png,x,"{""k"": 1}",ada,true\n'
    [row] = read_entries(io.StringIO(csv_list))
    assert (row.key, row.image_id, row.spec["meta"], row.spec["creator"], row.spec["requireSignedURLs"]) == (
        "http://a.test/x.png", "x", {"k": 1}, "ada", True,
    )  # fmt: skip
    jsonl = '{"url": "http://a.test/y.png", "metadata": {"a": "b"}}\nnot json\n{"url": "ftp://a.test/z"}\n'
    rows = list(read_entries(io.StringIO(jsonl)))
    assert rows[0].spec["meta"] == {"a": "b"} and rows[0].image_id is None and rows[0].problem is None
    assert rows[1].problem is not None and rows[1].problem.startswith("line 2: not a JSON object")
    assert rows[2].problem is not None and "http(s) url" in rows[2].problem
    plain = list(read_entries(io.StringIO("# a comment\nhttp://a.test/1.png\n\nhttp://a.test/2.png\n")))
    assert [r.key for r in plain] == ["http://a.test/1.png", "http://a.test/2.png"]
    [bad] = read_entries(io.StringIO('url,metadata\nhttp://a.test/q.png,{"broken\n'))
    assert bad.problem is not None and "metadata is not valid JSON" in bad.problem


def test_a_url_list_imports_through_the_fetcher(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data_dir: Path, account: Account
) -> None:
    origin = Origin()
    images = small_images(3)
    origin.files["/a.png"], origin.files["/b.png"], origin.files["/c.svg"] = images[0], images[1], HOSTILE_SVG
    origin.files["/text"] = b"plain text"
    with serve(origin.app(), host="127.0.0.2") as base:
        listing = "\n".join(
            json.dumps(entry)
            for entry in [
                {"url": f"{base}/a.png", "id": "shop/a", "metadata": {"sku": 7}, "creator": "ada"},
                {"url": f"{base}/b.png", "requireSignedURLs": True},
                {"url": f"{base}/c.svg", "id": "vector"},
                {"url": f"{base}/missing.png", "id": "gone"},
                {"url": f"{base}/text", "id": "text"},
                {"url": "http://127.0.0.1:9/internal.png", "id": "internal"},  # not in the allowed network
            ]
        )
        monkeypatch.setenv("ENLARGER_FETCH_ALLOWED_NETWORKS", "127.0.0.2/32")
        monkeypatch.setattr(sys, "stdin", io.StringIO(listing + "\n"))
        status = main(["import", "--account", account.id, "--from", "urls:-", "--data-dir", str(data_dir), "--json"])
        summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert summary["counts"] == {"pending": 0, "done": 3, "skipped": 0, "failed": 3, "bytes": len(images[0]) +
                                 len(images[1]) + len(HOSTILE_SVG)}  # fmt: skip
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    shop = catalog.image(account.id, "shop/a")
    assert (shop.meta, shop.creator, shop.filename, shop.size) == ({"sku": 7}, "ada", "a.png", len(images[0]))
    [unnamed] = [i for i in catalog.page(account.id, 1, 100).images if i.filename == "b.png"]
    assert unnamed.require_signed and len(unnamed.id) == 36
    reasons = {r.image_id: r.reason or "" for r in JobStore(catalog).log(summary["id"]) if r.state == "failed"}
    assert set(reasons) == {"gone", "text", "internal"}
    assert "404" in reasons["gone"]
    assert "not a supported image" in reasons["text"]
    assert "internal" in reasons["internal"]
    catalog.close()


def test_an_unparseable_line_fails_alone_and_the_job_finishes(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    account: Account,
    tmp_path: Path,
) -> None:
    """Issue 24, finding 8: docs/import.md says such a line becomes a failed object; it used to end
    the command with a traceback and leave the job "running"."""
    origin = Origin()
    [image] = small_images(1)
    origin.files["/a.png"] = image
    listing = tmp_path / "list.txt"
    with serve(origin.app(), host="127.0.0.2") as base:
        lines = [f"{base}/a.png", "http://[::1/broken.png", "http://127.0.0.1:80:80/x.png", f"{base}/\udcff.png"]
        listing.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")  # the last: not UTF-8
        command = ["import", "--account", account.id, "--from", f"urls:{listing}", "--data-dir", str(data_dir)]
        monkeypatch.setenv("ENLARGER_FETCH_ALLOWED_NETWORKS", "127.0.0.2/32")
        status = main([*command, "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert summary["state"] == "done"
    assert summary["counts"] == {"pending": 0, "done": 1, "skipped": 0, "failed": 3, "bytes": len(image)}
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    reasons = [r.reason or "" for r in JobStore(catalog).log(summary["id"]) if r.state == "failed"]
    catalog.close()
    assert any("line 2" in r and "malformed" in r for r in reasons), reasons
    assert any("line 3" in r and "malformed" in r for r in reasons), reasons


def test_an_object_the_database_refuses_leaves_no_blob(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data_dir: Path, account: Account
) -> None:
    """Issue 24: a failure while committing an imported object's row (not a conflict, not the quota)
    kept its blob outside the quota until an orphan sweep."""
    origin = Origin()
    origin.files["/kept.png"], origin.files["/refused.png"] = small_images(2)
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    _refuse_filename_in_database(catalog, "refused.png")
    catalog.close()
    with serve(origin.app(), host="127.0.0.2") as base:
        monkeypatch.setenv("ENLARGER_FETCH_ALLOWED_NETWORKS", "127.0.0.2/32")
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{base}/kept.png\n{base}/refused.png\n"))
        main(["import", "--account", account.id, "--from", "urls:-", "--data-dir", str(data_dir), "--json"])
        summary = json.loads(capsys.readouterr().out)
    assert (summary["counts"]["done"], summary["counts"]["failed"]) == (1, 1), summary
    blobs = [p for p in (data_dir / "originals").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in blobs] == [origin.files["/kept.png"]]
