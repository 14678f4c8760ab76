"""The decoded-copy cache behind /cdn-cgi/image: keyed by the source's identity, counted in /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from enlarger.decode_cache import CACHE
from enlarger.sources import FILE_IDENTITY_SECONDS
from tests.imaging import decode, save


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def _counts(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    found = re.findall(r"^enlarger_decode_cache_(hits_total|misses_total|copies_total|bytes) (\S+)$", text, re.M)
    return {name: float(value) for name, value in found}


def _picture(colour: list[int], width: int) -> bytes:
    return save((pyvips.Image.black(width, width * 3 // 4, bands=3) + colour).cast("uchar"), "png")


def test_a_burst_decodes_once_and_a_changed_file_is_decoded_anew(client: httpx.Client, origin_dir: Path) -> None:
    (origin_dir / "burst.png").write_bytes(_picture([200, 0, 0], 1600))
    for width in (100, 120, 140, 160):  # the first is remembered, the second decodes a copy, the rest use it
        assert client.get(f"/cdn-cgi/image/width={width},format=png/burst.png").status_code == 200
    assert _counts(client) == {
        "hits_total": 2.0,
        "misses_total": 2.0,
        "copies_total": 1.0,
        "bytes": 800 * 600 * 3,  # half the original serves outputs up to 200 wide
    }
    time.sleep(FILE_IDENTITY_SECONDS + 0.2)  # the server trusts a file's stat for this long
    (origin_dir / "burst.png").write_bytes(_picture([0, 0, 200], 1200))  # same URL, other bytes
    for width in (110, 130, 150):
        response = client.get(f"/cdn-cgi/image/width={width},format=png/burst.png")
        assert [round(v) for v in decode(response.content).getpoint(10, 10)] == [0, 0, 200]
    counts = _counts(client)
    assert (counts["hits_total"], counts["copies_total"]) == (3.0, 2.0)  # its own copy, not the red one
