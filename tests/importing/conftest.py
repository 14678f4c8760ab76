"""A moto S3 bucket filled with generated objects whose import outcome is known in advance."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enlarger.catalog.store import Account, Catalog
from enlarger.settings import Settings
from tests.backends import make_bucket
from tests.imaging import save, solid

MAX_UPLOAD = 4096  # the tests' upload limit: "oversize" objects stay small
HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="12" height="10"><script>alert(document.cookie)</script>'
    b'<rect width="12" height="10" fill="red" onclick="steal()"/></svg>'
)
ENTITY_SVG = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&b;</text></svg>'
)


def small_images(count: int = 8) -> list[bytes]:
    return [save(solid(6 + n, 5 + n, (30 * n % 256, 90, 200)), "png") for n in range(count)]


@dataclass
class Bucket:
    endpoint: str
    name: str
    outcomes: dict[str, str]  # key → done | failed
    bodies: dict[str, bytes]

    def keys(self, outcome: str, prefix: str = "") -> set[str]:
        return {k for k, v in self.outcomes.items() if v == outcome and k.startswith(prefix)}


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def fill_bucket(endpoint: str, good: int, *, prefix: str = "photos/") -> Bucket:
    """``good`` valid images under ``prefix`` (a few in sub-folders), plus one of each bad kind
    under ``prefix`` and a few valid ones outside it (prefix selection)."""
    name = make_bucket(endpoint)
    images = small_images()
    bodies: dict[str, bytes] = {f"{prefix}{n // 500}/img{n:05d}.png": images[n % len(images)] for n in range(good)}
    outcomes = dict.fromkeys(bodies, "done")
    extra = {
        f"{prefix}hostile.svg": (HOSTILE_SVG, "done"),  # sanitized when read; stored as uploaded, like an upload
        f"{prefix}corrupt.png": (images[3][:60], "failed"),
        f"{prefix}notes.txt": (b"just some text, not an image\n" * 3, "failed"),
        f"{prefix}huge.png": (images[0] + bytes(MAX_UPLOAD), "failed"),
        f"{prefix}entities.svg": (ENTITY_SVG, "failed"),
        f"{prefix}bad#name.png": (images[1], "failed"),  # not a valid custom id
        "elsewhere/a.png": (images[2], "done"),
        "elsewhere/b.png": (images[4], "done"),
    }
    for key, (body, outcome) in extra.items():
        bodies[key], outcomes[key] = body, outcome
    client = s3_client(endpoint)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=name, Key=kv[0], Body=kv[1]), bodies.items()))
    return Bucket(endpoint, name, outcomes, bodies)


@pytest.fixture(autouse=True)
def _aws_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("ENLARGER_MAX_UPLOAD_BYTES", str(MAX_UPLOAD))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def account(data_dir: Path) -> Iterator[Account]:
    catalog = Catalog(Settings(data_dir=data_dir).catalog_url)
    yield catalog.create_account("import")
    catalog.close()
