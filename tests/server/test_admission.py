"""Admission and coalescing over real HTTP, with the workers held by a gate instead of a sleep.

A stand-in transformation waits on an event the test releases, so what is in flight is known
exactly while requests arrive: no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from enlarger import pipeline
from enlarger.job import Result
from tests.imaging import decode
from tests.live import wait_for
from tests.server.conftest import Start

#: where the serving core looks the engine up (the one name this module patches)
TRANSFORM = "enlarger.server.outputs.transform"


@dataclass
class Gate:
    """Transformations started so far (by output width), all held until ``release`` is set."""

    release: threading.Event = field(default_factory=threading.Event)
    entered: list[object] = field(default_factory=list)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    lock = threading.Lock()
    real = pipeline.transform

    def gated(data: bytes, options: Any, **kwargs: Any) -> Result:
        with lock:
            held.entered.append(options.width)
        assert held.release.wait(timeout=60), "the test never released the gate"
        return real(data, options, **kwargs)

    monkeypatch.setattr(TRANSFORM, gated)
    yield held
    held.release.set()  # set up after the server, so released before it shuts down


def _metric(client: httpx.Client, line: str) -> bool:
    return line in client.get("/metrics").text.splitlines()


def test_overload_is_refused_at_once_while_admitted_work_succeeds(start: Start, gate: Gate) -> None:
    client = start(concurrency=1, queue_size=1)

    def url(width: int) -> str:
        return f"/cdn-cgi/image/width={width},format=png/photo.jpg"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            running = pool.submit(client.get, url(20))
            wait_for(lambda: gate.entered == [20])  # the only worker is taken
            queued = pool.submit(client.get, url(21))
            wait_for(lambda: _metric(client, "enlarger_queue_depth 1.0"))  # and the only queue slot
            refused = [client.get(url(width)) for width in range(22, 26)]
            # answered while both admitted requests are still held: nothing waited for a slot
            assert not running.done() and not queued.done()
            assert gate.entered == [20]
        finally:  # a failure above must not leave the pool's shutdown waiting on held requests
            gate.release.set()
        admitted = [running.result(timeout=60), queued.result(timeout=60)]
    for response in refused:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["cf-resized"] == "err=9522"
        assert "busy" in response.text
    assert [decode(r.content).width for r in admitted] == [20, 21]
    assert gate.entered == [20, 21]  # refused work never started
    assert _metric(client, "enlarger_rejected_total 4.0")
    assert client.get(url(30)).status_code == 200  # room again once the work is done


def test_identical_concurrent_misses_are_coalesced(client: httpx.Client, gate: Gate) -> None:
    url = "/cdn-cgi/image/width=77,format=png/photo.jpg"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        try:
            pending = [pool.submit(client.get, url) for _ in range(8)]
            wait_for(lambda: _metric(client, "enlarger_coalesced_total 7.0"))  # seven wait on the first
            assert gate.entered == [77]
        finally:  # a failure above must not leave the pool's shutdown waiting on held requests
            gate.release.set()
        responses = [future.result(timeout=60) for future in pending]
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.content for r in responses}) == 1
    assert decode(responses[0].content).width == 77
    assert gate.entered == [77]
    assert [r.headers["x-enlarger-cache"] for r in responses].count("MISS") == 8
