"""``enlarger serve --processes 2``: real worker processes on one port, over loopback.

Which worker holds a connection is read from ``/proc`` (the server side of each TCP connection
belongs to one worker's descriptors), so every test knows it reached both processes. Nothing
is timed: productions are held back by taking their cross-process claim from the test (a third
process, as far as the workers can tell), and progress is read from the summed ``/metrics``.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pyvips

from enlarger.cache import DiskCache, cache_key
from enlarger.options import parse_options
from enlarger.security.addresses import AddressGuard
from enlarger.security.fetch import Fetcher
from enlarger.sources import Sources
from tests.imaging import gradient, save
from tests.live import wait_for

PHOTO = "photo.jpg"
Answer = tuple[int, dict[str, str], bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tcp_sockets() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket, from /proc/net/tcp."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
        rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return rows


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except FileNotFoundError:
        pass
    return inodes


@dataclass
class Cluster:
    """A running ``enlarger serve --processes 2`` and what the test needs to watch it."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    origin: Path
    log: Path
    open_connections: list[http.client.HTTPConnection] = field(default_factory=list)

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except FileNotFoundError:
            return []

    def listening(self) -> int:
        return sum(1 for local, _, state, _ in _tcp_sockets() if local == self.port and state == "0A")

    def ready(self, count: int = 2) -> bool:
        return len(self.workers()) == count and self.listening() == count

    def connect(self) -> tuple[http.client.HTTPConnection, int]:
        """A new keep-alive connection and the pid of the worker that accepted it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        connection.connect()
        self.open_connections.append(connection)
        assert connection.sock is not None
        client_port = connection.sock.getsockname()[1]
        owner: list[int] = []

        def accepted() -> bool:
            inodes = {i for local, remote, _, i in _tcp_sockets() if local == self.port and remote == client_port}
            owner[:] = [pid for pid in self.workers() if inodes & _socket_inodes(pid)]
            return bool(owner)

        wait_for(accepted)
        return connection, owner[0]

    def spread(self, per_worker: int) -> dict[int, list[http.client.HTTPConnection]]:
        """At least ``per_worker`` connections held by each worker (the kernel picks by hash)."""
        by_pid: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in self.workers()}
        for _ in range(400):
            if all(len(held) >= per_worker for held in by_pid.values()):
                return by_pid
            connection, pid = self.connect()
            by_pid.setdefault(pid, []).append(connection)
        raise AssertionError(f"connections did not reach every worker: { {p: len(c) for p, c in by_pid.items()} }")

    def get(self, path: str) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            return ask(connection, path)
        finally:
            connection.close()

    def metric(self, name: str, labels: str = "") -> float:
        """A series summed over every worker (whichever worker answers /metrics reports them all)."""
        _, _, body = self.get("/metrics")
        prefix = name + (f"{{{labels}}}" if labels else "")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(prefix + " ") or (not labels and line.startswith(name + "{")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        for connection in self.open_connections:
            connection.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                for pid in self.workers():
                    os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait()


def ask(connection: http.client.HTTPConnection, path: str) -> Answer:
    connection.request("GET", path, headers={"Accept": "image/jpeg"})
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def in_parallel(calls: list[Callable[[], Answer]]) -> Callable[[], list[Answer]]:
    """Start every call on its own thread now; the returned function waits for them, in order."""
    pool = ThreadPoolExecutor(max_workers=len(calls))
    futures = [pool.submit(call) for call in calls]
    pool.shutdown(wait=False)

    def join() -> list[Answer]:
        return [future.result(timeout=120) for future in futures]

    return join


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    started: list[Cluster] = []
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / PHOTO).write_bytes(save(gradient(640, 480), "jpeg", Q=90))

    def start(**settings: object) -> Cluster:
        port = _free_port()
        data_dir = tmp_path / "data"
        log = tmp_path / "server.log"
        env = {**os.environ, **{f"ENLARGER_{k.upper()}": str(v) for k, v in settings.items()}}
        command = [sys.executable, "-m", "enlarger.cli", "serve", "--processes", "2", "--port", str(port)]
        command += ["--data-dir", str(data_dir), "--origin", str(origin)]
        with log.open("wb") as handle:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=handle, env=env)
        running = Cluster(process, port, data_dir, origin, log)
        started.append(running)
        wait_for(lambda: running.ready() or process.poll() is not None, timeout=60)
        assert process.poll() is None, log.read_text()[-3000:]
        return running

    yield start
    for running in started:
        running.stop()


def _key(origin: Path, options: str) -> str:
    """The cache key the server uses for ``options`` on the photo (found the way the server finds it)."""
    fetcher = Fetcher(AddressGuard(()), connect_timeout=1, total_timeout=1, max_redirects=0, max_bytes=1 << 30)
    sources = Sources(str(origin), fetcher, allow_url=lambda _u: False, max_bytes=1 << 30, revalidate_seconds=0)
    located = asyncio.run(sources.locate(PHOTO))
    return cache_key(located.identity, parse_options(options).canonical(), "")


def test_two_processes_share_the_port_and_report_summed_metrics(cluster: Callable[..., Cluster]) -> None:
    server = cluster()
    by_pid = server.spread(per_worker=2)
    assert len(by_pid) == 2
    sent = 0
    for pid, connections in by_pid.items():
        for connection in connections:
            sent += 1
            status, headers, body = ask(connection, f"/cdn-cgi/image/width={100 + sent}/{PHOTO}")
            assert (status, headers["x-enlarger-cache"]) == (200, "MISS"), pid
            assert pyvips.Image.new_from_buffer(body, "").width == 100 + sent
    assert server.metric("enlarger_requests_total", 'route="transform",status="200"') == sent
    assert server.metric("enlarger_transform_seconds_count") == sent


def test_identical_misses_in_two_processes_are_transformed_once(cluster: Callable[..., Cluster]) -> None:
    server = cluster()
    by_pid = server.spread(per_worker=3)
    connections = [c for held in by_pid.values() for c in held]
    options = "width=77"
    held = DiskCache(server.data_dir / "cache", 1 << 30).claim(_key(server.origin, options))
    assert held is not None, "the test takes the claim first, standing in for a third process"

    join = in_parallel([lambda c=c: ask(c, f"/cdn-cgi/image/{options}/{PHOTO}") for c in connections])  # type: ignore[misc]
    wait_for(lambda: server.metric("enlarger_cache_misses_total") == len(connections), timeout=60)
    assert server.metric("enlarger_transform_seconds_count") == 0  # everyone waits for the claim
    held.release()
    answers = join()

    assert {(status, headers["x-enlarger-cache"]) for status, headers, _ in answers} == {(200, "MISS")}
    assert len({body for _, _, body in answers}) == 1
    assert pyvips.Image.new_from_buffer(answers[0][2], "").width == 77
    assert server.metric("enlarger_transform_seconds_count") == 1
    assert server.metric("enlarger_coalesced_total") == len(connections) - 1


def test_a_killed_worker_is_replaced_and_its_counts_survive(cluster: Callable[..., Cluster]) -> None:
    server = cluster()
    for width in (40, 41, 42):
        assert server.get(f"/cdn-cgi/image/width={width}/{PHOTO}")[0] == 200
    transformed = 'route="transform",status="200"'
    wait_for(lambda: server.metric("enlarger_requests_total", transformed) == 3)  # counted after the body is sent
    before = server.workers()
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in server.workers() and server.ready(), timeout=60)
    after = server.workers()
    assert len(after) == 2 and victim not in after
    by_pid = server.spread(per_worker=1)
    assert set(by_pid) == set(after)  # the replacement accepts connections
    for connections in by_pid.values():
        assert ask(connections[0], f"/cdn-cgi/image/width=50/{PHOTO}")[0] == 200
    # 3 + 2: the dead worker's counts stay (the new two are counted after their bodies are sent)
    wait_for(lambda: server.metric("enlarger_requests_total", transformed) == 5)


def test_overload_answers_503_in_every_process(cluster: Callable[..., Cluster]) -> None:
    # two workers in all (one per process), no queue: a third transformation is refused
    server = cluster(concurrency=2, queue_size=0, transform_timeout=120)
    noise = pyvips.Image.gaussnoise(2500, 2500).cast("uchar")
    (server.origin / "noise.jpg").write_bytes(
        noise.bandjoin([noise, noise]).copy(interpretation="srgb").jpegsave_buffer()
    )
    by_pid = server.spread(per_worker=3)
    slow = [held[0] for held in by_pid.values()]
    slow_paths = [f"/cdn-cgi/image/blur={250 - i}/noise.jpg" for i in range(len(slow))]  # distinct: not coalesced
    join_slow = in_parallel([lambda c=c, p=p: ask(c, p) for c, p in zip(slow, slow_paths, strict=True)])  # type: ignore[misc]
    wait_for(lambda: server.metric("enlarger_transforms_in_flight") == 2, timeout=60)

    probes = [c for held in by_pid.values() for c in held[1:]]
    answers = [ask(c, f"/cdn-cgi/image/width={60 + i}/{PHOTO}") for i, c in enumerate(probes)]
    still_busy = server.metric("enlarger_transforms_in_flight") == 2
    assert still_busy, "the slow transformations ended before the probes were answered"
    for status, headers, body in answers:
        assert status == 503
        assert headers["retry-after"] == "1" and headers["cf-resized"] == "err=9522"
        assert b"busy" in body
    assert server.metric("enlarger_rejected_total") == len(probes)
    assert [status for status, _, _ in join_slow()] == [200, 200]


def test_sigterm_lets_requests_in_flight_finish(cluster: Callable[..., Cluster]) -> None:
    server = cluster()
    options = "width=66"
    held = DiskCache(server.data_dir / "cache", 1 << 30).claim(_key(server.origin, options))
    assert held is not None
    connection, _ = server.connect()
    join = in_parallel([lambda: ask(connection, f"/cdn-cgi/image/{options}/{PHOTO}")])
    wait_for(lambda: server.metric("enlarger_cache_misses_total") == 1, timeout=60)
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: server.listening() == 0, timeout=60)  # draining: no longer accepting
    assert server.process.poll() is None  # but still waiting for the request in flight
    held.release()
    [(status, _, body)] = join()
    assert status == 200 and pyvips.Image.new_from_buffer(body, "").width == 66
    assert server.process.wait(60) == 0
    assert server.workers() == []
