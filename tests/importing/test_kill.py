"""kill -9 an ``enlarger import`` midway, run the same command again: every object is imported
exactly once — none lost, none duplicated — and after ``enlarger gc`` blobs and rows match."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from enlarger.catalog.store import Account, Catalog
from enlarger.hosting import Hosting
from enlarger.importing.jobs import JobStore
from enlarger.settings import Settings
from enlarger.storage.factory import open_storage
from enlarger.storage.ownership import MARKER_KEY
from tests.importing.conftest import fill_bucket


def test_kill_9_midway_then_again_imports_each_object_once(s3_endpoint: str, data_dir: Path, account: Account) -> None:
    bucket = fill_bucket(s3_endpoint, 600)
    command = [
        sys.executable, "-m", "enlarger.cli", "import", "--account", account.id,
        "--from", f"s3://{bucket.name}/photos/", "--endpoint-url", s3_endpoint,
        "--rate", "150", "--concurrency", "3", "--data-dir", str(data_dir), "--json",
    ]  # fmt: skip
    env = {**os.environ, "ENLARGER_IMPORT_LEASE_SECONDS": "1", "ENLARGER_ORPHAN_GRACE_SECONDS": "0"}
    settings = Settings(data_dir=data_dir)
    catalog = Catalog(settings.catalog_url)
    jobs = JobStore(catalog)

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:  # wait until the import is well under way, then kill it without warning
        found = jobs.jobs(account.id)
        if found and jobs.counts(found[0].id).done >= 100:
            break
        assert time.monotonic() < deadline and first.poll() is None, "the import did not get going"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    [job] = jobs.jobs(account.id)
    at_kill = jobs.counts(job.id)
    assert job.state == "running" and at_kill.pending > 0 and at_kill.done >= 100  # it died mid-job

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["id"] == job.id and "resuming" in again.stderr  # the same job went on
    expected = bucket.keys("done", "photos/")
    assert summary["state"] == "done"
    assert summary["counts"] == {
        "pending": 0, "done": len(expected), "skipped": 0, "failed": 5,
        "bytes": sum(len(bucket.bodies[k]) for k in expected),
    }  # fmt: skip

    hosting = Hosting(catalog, open_storage(settings), settings)
    images = catalog.page(account.id, 1, 10_000).images
    assert sorted(i.id for i in images) == sorted(expected)  # each once: none lost, none doubled
    for image in images:
        assert hosting.original(image) == bucket.bodies[image.id]
        assert image.content_hash == hashlib.sha256(bucket.bodies[image.id]).hexdigest()
    orphans = len([b for b in hosting.storage.list() if b.key != MARKER_KEY]) - len(images)  # written, never recorded
    gc = subprocess.run(
        [sys.executable, "-m", "enlarger.cli", "gc", "--data-dir", str(data_dir), "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(gc.stdout)["removed"] == orphans  # exactly the leftovers: no recorded blob taken
    assert len([b for b in hosting.storage.list() if b.key != MARKER_KEY]) == len(images)  # blobs == rows
    catalog.close()
