"""kill -9 the real server in the middle of a stream of uploads: every acknowledged upload
survives intact, nothing half-written is visible, and the next start's orphan sweep clears the
leftovers. The kill is made to land mid-write: the server is frozen (SIGSTOP) until a blob write
is caught in flight, then killed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from enlarger.storage.ownership import MARKER_KEY
from tests.imaging import gradient, save
from tests.live import wait_for

PARTIAL = ".partial-"  # the local store's temp files (storage/local.py)


def _cli(data_dir: Path, *args: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "enlarger.cli", *args, "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, str] = json.loads(done.stdout)
    return result


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ENLARGER_ORPHAN_GRACE_SECONDS": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "enlarger.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "server did not start"
        time.sleep(0.05)


def _writing(data_dir: Path) -> bool:
    """Whether a blob write is in flight: its temp file exists (renamed into place when whole)."""
    return any(p.name.startswith(PARTIAL) for p in (data_dir / "originals").rglob("*"))


def _kill_mid_write(server: subprocess.Popen[bytes], data_dir: Path, ready: Callable[[], bool]) -> None:
    """SIGKILL ``server`` while a blob write is in flight, once ``ready()``; fail instead of hanging."""
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, "no blob write was caught in flight"
        assert server.poll() is None, "the server died on its own"
        if ready() and _writing(data_dir):
            server.send_signal(signal.SIGSTOP)  # frozen: what is on disk now is what the kill leaves
            if _writing(data_dir):
                break
            server.send_signal(signal.SIGCONT)  # the write finished in between: try again
        time.sleep(0.002)
    server.send_signal(signal.SIGKILL)


def test_acknowledged_uploads_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    account = _cli(data_dir, "accounts", "create")
    token = _cli(data_dir, "tokens", "create", "--account", account["id"])["token"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/client/v4/accounts/{account['id']}/images/v1"
    auth = {"Authorization": f"Bearer {token}"}
    bodies = [save(gradient(700 + n, 700), "png", compression=1) for n in range(4)]  # ~1.5 MB each

    acked: dict[str, str] = {}
    stop = threading.Event()

    def stream(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not stop.is_set():
                body = bodies[n % len(bodies)]
                image_id = f"w{worker}-{n}"
                n += 1
                try:
                    response = client.post(api, headers=auth, data={"id": image_id}, files={"file": ("a.png", body)})
                except httpx.TransportError:
                    return  # the server died under us: this upload was never acknowledged
                if response.status_code == 200:
                    acked[image_id] = hashlib.sha256(body).hexdigest()

    server = _start(data_dir, port)
    # daemon threads, stopped and the server killed in ``finally``: a failure here fails the test
    # instead of leaving uploaders running that keep the test process alive
    workers = [threading.Thread(target=stream, args=(w,), daemon=True) for w in range(3)]
    try:
        for worker in workers:
            worker.start()
        _kill_mid_write(server, data_dir, lambda: len(acked) >= 12)
        server.wait(timeout=30)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        for worker in workers:
            worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)

    orphans_before = [p for p in (data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY]
    assert any(p.name.startswith(PARTIAL) for p in orphans_before), "the kill did not land mid-write"
    server = _start(data_dir, port)  # starts with an orphan sweep (grace 0 in this test)
    try:
        with httpx.Client(timeout=30, headers=auth) as client:
            for image_id, digest in acked.items():
                blob = client.get(f"{api}/{image_id}/blob")
                assert blob.status_code == 200, image_id
                assert hashlib.sha256(blob.content).hexdigest() == digest, image_id
            listed = client.get(api, params={"per_page": 1000}).json()["result"]["images"]
            assert {image["id"] for image in listed} >= set(acked)
            for image in listed:  # every visible image is whole, acknowledged or not
                blob = client.get(f"{api}/{image['id']}/blob")
                assert blob.status_code == 200
                assert hashlib.sha256(blob.content).hexdigest() in {hashlib.sha256(b).hexdigest() for b in bodies}

        def stored() -> list[Path]:
            return [p for p in (data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY]

        wait_for(lambda: len(stored()) == len(listed))  # the start's sweep leaves no orphan and no temp file
        assert len(orphans_before) > len(listed)  # the interrupted write was among them
    finally:
        server.terminate()
        server.wait(timeout=10)
