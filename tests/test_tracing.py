"""When tracing is on, and that off it costs no import of the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enlarger import tracing
from tests.imaging import gradient, save


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),  # not where to send
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),  # the exporter's default endpoint
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, True),
    ],
)
def test_wanted(environ: dict[str, str], on: bool) -> None:
    assert tracing.wanted(environ) is on


def test_protocols() -> None:
    assert tracing.protocol({}) == "http/protobuf"  # the specification's default
    assert tracing.protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "grpc"
    both = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}
    assert tracing.protocol(both) == "http/protobuf"  # the traces-specific one wins
    with pytest.raises(tracing.TracingConfigError, match="http/json"):
        tracing.protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_off_the_sdk_is_never_imported(tmp_path: Path) -> None:
    """A server that was not asked for traces serves without loading OpenTelemetry at all."""
    script = """
import asyncio, sys
from pathlib import Path
import httpx
from enlarger.server.app import create_app
from enlarger.settings import Settings

async def main() -> None:
    app = create_app(Settings(data_dir=Path("data"), origin="origin"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for url in ("/cdn-cgi/image/width=40/a.jpg", "/cdn-cgi/image/width=40/a.jpg", "/healthz"):
            assert (await client.get(url)).status_code == 200
asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    (tmp_path / "origin").mkdir()
    (tmp_path / "origin" / "a.jpg").write_bytes(save(gradient(64, 48), "jpeg"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=environ, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
