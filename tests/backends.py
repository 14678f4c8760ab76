"""Real backing services for the tests: a throwaway PostgreSQL server and an S3-protocol server.

PostgreSQL comes from the machine's packages (``.ci/run`` installs them); without them the
PostgreSQL tests skip, unless ``ENLARGER_REQUIRE_POSTGRES=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the packages' ``postgres`` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A private PostgreSQL cluster on a fixed loopback port, which a test may stop and start again
    (a database outage: clients see connections cut and refused, then the same server back)."""

    def __init__(self, binaries: Path) -> None:
        self._binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="enlarger-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.port = _free_port()
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        """The admin URL (no database)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *arguments: str) -> None:
        command = _as_server_user([str(self._binaries / program), *arguments])
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-o", options, "-w", "-l", str(self.root / "log"), "start")

    def stop(self) -> None:
        """Stop at once, as a crash would: connections are cut, nothing is shut down politely."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a private PostgreSQL cluster on a free loopback port; stopped and removed at the end."""
    binaries = _postgres_bin()
    if binaries is None:
        if os.environ.get("ENLARGER_REQUIRE_POSTGRES") == "1":
            raise RuntimeError("PostgreSQL server binaries not found but ENLARGER_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):  # already stopped by the test
            server.stop()
        server.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL cluster on a free loopback port; yields its admin URL."""
    with running_postgres() as server:
        yield server.url


def fresh_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{server_url}/{name}"


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3-protocol server on a loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str) -> str:
    import boto3

    name = f"b-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=name)
    return name
