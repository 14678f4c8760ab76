"""``@cloudflare/images`` 1.0.2 over the binding backend: it sends transforms without
``imageIndex`` and reads the output's format and size from ``cf-images-output-*`` headers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import Service
from tests.clients.npm import node_client


@pytest.fixture(scope="module")
def outputs(service: Service) -> dict[str, Any]:
    done: dict[str, Any] = node_client("cloudflare_images.mjs", service.binding, str(service.files / "alpha.png"))
    return done


@pytest.mark.parametrize(("kind", "channels", "fmt"), [("rgb", 3, "rgb"), ("rgba", 4, "rgba")])
def test_raw_pixels_with_their_size(outputs: dict[str, Any], kind: str, channels: int, fmt: str) -> None:
    out = outputs[kind]
    assert out["info"]["width"] == 10 and out["info"]["height"] == 5 and out["info"]["format"] == fmt
    assert out["length"] == 10 * 5 * channels
    assert out["info"]["flattened"] is (kind == "rgb")  # the alpha quadrants laid on white


def test_jpeg_with_its_info(outputs: dict[str, Any]) -> None:
    out = outputs["jpeg"]
    assert out["info"] == {"flattened": False, "format": "image/jpeg", "width": 10, "height": 5}
    assert out["head"][:3] == [0xFF, 0xD8, 0xFF]
