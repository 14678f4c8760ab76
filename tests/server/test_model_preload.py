"""Configured models are loaded at start, before ``/readyz`` says ready, and a request that meets
a load still ends within its ``transform_timeout`` (504 / 9529, docs/server.md).

Model loads are held by a gate around onnxruntime's session constructor (the external library),
so what is loading is known exactly, with no sleep; the model is a tiny stand-in ONNX graph.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime
import pytest

from tests.imaging import decode
from tests.live import wait_for
from tests.models.standins import mean_mask
from tests.server.conftest import Start

SEGMENT = "/cdn-cgi/image/width=40,segment=foreground,format=png/photo.jpg"


@dataclass
class Loads:
    """onnxruntime sessions created so far (by model file), each held until ``release`` is set."""

    release: threading.Event = field(default_factory=threading.Event)
    started: list[str] = field(default_factory=list)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loads]:
    held = Loads()
    real = onnxruntime.InferenceSession

    def gated(path: str, *args: Any, **kwargs: Any) -> onnxruntime.InferenceSession:
        held.started.append(Path(path).name)
        assert held.release.wait(timeout=20), "the test never released the model load"
        return real(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", gated)
    yield held
    held.release.set()  # set up before the server, so released before it shuts down


def test_readyz_waits_for_the_configured_model_and_requests_then_load_nothing(
    start: Start, tmp_path: Path, loads: Loads
) -> None:
    model = mean_mask(tmp_path / "mask.onnx")
    client = start(segment_model=str(model), segment_model_kind="u2netp", transform_timeout=30)
    wait_for(lambda: loads.started == ["mask.onnx"])  # the start-up load, with no request made
    assert client.get("/healthz").status_code == 200  # alive meanwhile
    loading = client.get("/readyz")
    assert (loading.status_code, loading.text) == (503, "models loading\n")
    loads.release.set()
    wait_for(lambda: client.get("/readyz").status_code == 200)
    response = client.get(SEGMENT)
    assert response.status_code == 200, response.text
    assert decode(response.content).width == 40
    assert loads.started == ["mask.onnx"]  # the request used the model loaded at start


def test_a_request_meeting_a_model_load_ends_within_its_time_limit(start: Start, tmp_path: Path, loads: Loads) -> None:
    model = mean_mask(tmp_path / "mask.onnx")
    client = start(segment_model=str(model), segment_model_kind="u2netp", transform_timeout=2)
    wait_for(lambda: loads.started == ["mask.onnx"])
    stopped = client.get(SEGMENT)  # the load is held past the request's 2 s
    assert stopped.status_code == 504
    assert stopped.headers["cf-resized"] == "err=9529"
    assert "longer than the limit of 2 s" in stopped.text
    loads.release.set()
    wait_for(lambda: client.get("/readyz").status_code == 200)
    served = client.get(SEGMENT)  # the same limit, now with the model loaded
    assert served.status_code == 200, served.text


def test_a_configured_model_that_cannot_load_keeps_the_service_not_ready(start: Start, tmp_path: Path) -> None:
    client = start(segment_model=str(tmp_path / "missing.onnx"), segment_model_kind="u2netp")
    wait_for(lambda: client.get("/readyz").text != "models loading\n")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.text.startswith("model unavailable:") and "missing.onnx" in response.text
    assert client.get("/cdn-cgi/image/width=10,format=json/photo.jpg").status_code == 200  # the rest serves
    refused = client.get(SEGMENT)
    assert refused.status_code == 501 and "missing.onnx" in refused.text


@pytest.mark.parametrize("setting", ["upscale_model", "face_model"])
def test_every_configured_model_is_loaded_at_start(start: Start, tmp_path: Path, setting: str) -> None:
    # server.md: the models the settings name (segment_model, upscale_model, face_model) are loaded
    # before /readyz says ready: a missing file is seen at start, not by the first request using it
    client = start(**{setting: str(tmp_path / f"{setting}.onnx")})
    wait_for(lambda: client.get("/readyz").text != "models loading\n")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.text.startswith("model unavailable:") and f"{setting}.onnx" in response.text


def test_without_configured_models_the_service_is_ready(start: Start) -> None:
    client = start()
    wait_for(lambda: client.get("/readyz").status_code == 200)
    assert client.get("/readyz").text == "ready\n"
