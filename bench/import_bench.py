"""Bulk import throughput and memory: ``enlarger import`` from moto's S3 server on loopback.

For 100 KB and 2 MB objects it prints objects/s, MB/s and the importing process's peak memory,
beside a baseline run side by side: plain concurrent downloads of the same objects (boto3, same
concurrency), so the ratio is the cost of validation, durable storage and the catalog commit.
Then it imports two bucket sizes of small objects and prints their peak memory: listings and
bodies are streamed, so it must not grow with the bucket. Each import runs in a child process
pinned to two cores (the moto server shares them), on SQLite and local storage, defaults as shipped.

Run: ``.venv/bin/python bench/import_bench.py`` (about two minutes).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyvips

CONCURRENCY = 4
CORES = {0, 1}


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b"
    )


def _noise_png(target_bytes: int) -> bytes:
    """A PNG of random pixels (incompressible, so its size is predictable) of about ``target_bytes``."""
    side = int((target_bytes / 3) ** 0.5)
    bands = [pyvips.Image.gaussnoise(side, side, sigma=80, mean=128).cast("uchar") for _ in range(3)]
    image = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
    return bytes(image.write_to_buffer(".png", compression=1))


def _fill(endpoint: str, count: int, body: bytes) -> str:
    client = _client(endpoint)
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"o/{n:06d}.png", Body=body), range(count)))
    return bucket


def _child(args: list[str]) -> None:
    """Runs in the child: the import itself, then its peak memory."""
    os.sched_setaffinity(0, CORES & os.sched_getaffinity(0) or os.sched_getaffinity(0))
    from enlarger.cli import main

    if args[0] == "download":
        endpoint, bucket = args[1], args[2]
        client = _client(endpoint)
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]  # fmt: skip
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            total = sum(pool.map(lambda k: len(client.get_object(Bucket=bucket, Key=k)["Body"].read()), keys))
        print(json.dumps({"bytes": total}), file=sys.stderr)
    else:
        status = main(args)
        assert status == 0, status
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mb": peak_kb / 1024}), file=sys.stderr)


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak MB, JSON summary) of one child run."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    peak = json.loads(done.stderr.strip().splitlines()[-1])["peak_mb"]
    summary = json.loads(done.stdout) if done.stdout.strip() else {}
    return seconds, peak, summary


def _import(endpoint: str, bucket: str, count: int, env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as data:
        catalog_env = {**env}
        from enlarger.catalog.store import Catalog

        catalog = Catalog(f"sqlite:///{Path(data) / 'catalog.db'}")
        account = catalog.create_account("bench").id
        catalog.close()
        args = ["import", "--account", account, "--from", f"s3://{bucket}/o/", "--endpoint-url", endpoint,
                "--concurrency", str(CONCURRENCY), "--data-dir", data, "--json"]  # fmt: skip
        seconds, peak, summary = _run(args, catalog_env)
    assert summary["counts"]["done"] == count, summary["counts"]
    return seconds, peak, summary


def main() -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b", "PYTHONWARNINGS": "ignore"}
    print(f"enlarger import from moto S3 on loopback, {len(CORES)} cores, concurrency {CONCURRENCY}, SQLite+disk")
    try:
        print("| objects | count | import obj/s | import MB/s | peak MB | download-only obj/s | import/download |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, size, count in (("100 KB PNG", 100_000, 300), ("2 MB PNG", 2_000_000, 40)):
            body = _noise_png(size)
            bucket = _fill(endpoint, count, body)
            seconds, peak, summary = _import(endpoint, bucket, count, env)
            base_seconds, _, _ = _run(["download", endpoint, bucket], env)
            # the job's own clock, without the child's start-up, for the import; the whole child for both ratios
            rate = count / summary["seconds"]
            mb = summary["counts"]["bytes"] / summary["seconds"] / 1e6
            print(f"| {label} ({len(body) / 1e6:.2f} MB) | {count} | {rate:.1f} | {mb:.1f} | {peak:.0f} | "
                  f"{count / base_seconds:.1f} | {base_seconds / seconds:.2f} |")  # fmt: skip
        print()
        print("| bucket (10 KB PNG objects) | import obj/s | peak MB |")
        print("|---|---:|---:|")
        small = _noise_png(10_000)
        for count in (300, 1500):
            bucket = _fill(endpoint, count, small)
            seconds, peak, summary = _import(endpoint, bucket, count, env)
            print(f"| {count} objects | {count / summary['seconds']:.1f} | {peak:.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    # bench/http.py would shadow the standard library's http package that boto3 needs
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
    else:
        main()
