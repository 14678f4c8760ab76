"""Hostile request input on every hosting door, on SQLite and on PostgreSQL (issue 24, finding 7).

A NUL byte is legal in a URL's percent-encoding, in JSON (``\\u0000``) and in form fields, but
PostgreSQL refuses it in every text column: each must be refused with a 400 before anything is
stored, and a failed upload must leave no blob behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enlarger.storage.ownership import MARKER_KEY
from tests.imaging import quadrants, save
from tests.server.conftest import Start
from tests.server.test_api_images import Hosted, _open


@pytest.fixture
def tenant(start: Start, tmp_path: Path, catalog_url: str) -> Hosted:
    return _open(start, tmp_path, catalog_url)


def _png() -> bytes:
    return save(quadrants(200, 100), "png")


def _blobs(tenant: Hosted) -> list[Path]:
    """The stored originals (the storage's catalog marker is not one)."""
    return [p for p in (tenant.data_dir / "originals").rglob("*") if p.is_file() and p.name != MARKER_KEY]


def _refused(response: object, code: int = 5400) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["errors"][0]["code"] == code, body
    assert "NUL" in body["errors"][0]["message"], body


@pytest.mark.parametrize(
    "fields",
    [
        {"metadata": json.dumps({"owner": "a\x00b"})},
        {"metadata": json.dumps({"k\x00": "v"})},
        {"metadata[owner]": "a\x00b"},
        {"creator": "ada\x00"},
        {"id": "cat\x00.png"},
        {"requireSignedURLs": "false\x00"},
    ],
    ids=["metadata-value", "metadata-key", "metadata-field", "creator", "id", "flag"],
)
def test_a_nul_byte_in_an_upload_field_is_refused_and_nothing_is_stored(tenant: Hosted, fields: dict[str, str]) -> None:
    files = {name: (None, value) for name, value in fields.items()}
    response = tenant.http.post(
        f"{tenant.api}/v1", headers=tenant.auth(), files={**files, "file": ("a.png", _png(), "image/png")}
    )
    _refused(response)
    assert _blobs(tenant) == []
    catalog = tenant.catalog()
    try:
        assert catalog.count_images(tenant.account.id) == 0
    finally:
        catalog.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/cat%00.png", None),
        ("GET", "/v1/cat%00.png/blob", None),
        ("PATCH", "/v1/cat%00.png", {"metadata": {}}),
        ("DELETE", "/v1/cat%00.png", None),
        ("GET", "/v1?creator=a%00", None),
        ("GET", "/v2?meta.owner[eq]=a%00", None),
        ("GET", "/v2?continuation_token=%00", None),
        ("GET", "/v1/variants/x%00", None),
        ("POST", "/v1/variants", {"id": "x\x00", "options": {"fit": "cover", "width": 10, "height": 10}}),
        ("POST", "/v2/direct_upload", None),
    ],
)
def test_a_nul_byte_in_a_path_query_or_json_body_is_a_400(
    tenant: Hosted, method: str, path: str, body: dict[str, object] | None
) -> None:
    tenant.http.post(
        f"{tenant.api}/v1",
        headers=tenant.auth(),
        files={"id": (None, "cat.png"), "file": ("a.png", _png(), "image/png")},
    )
    if path == "/v2/direct_upload":
        response = tenant.http.post(
            f"{tenant.api}{path}", headers=tenant.auth(), files={"metadata": (None, '{"a": "\\u0000"}')}
        )
    else:
        response = tenant.http.request(method, f"{tenant.api}{path}", headers=tenant.auth(), json=body)
    _refused(response)
    assert len(_blobs(tenant)) == 1  # the image uploaded first is untouched
    assert tenant.http.get(f"{tenant.api}/v1/cat.png", headers=tenant.auth()).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/cdn-cgi/image/width=50/photo%00.jpg",
        "/cdn-cgi/image/width=50/photo.jpg?v=%00",
        "/{hash}/cat%00.png/public",
        "/{hash}/cat.png/width=50%00",
        "/cdn-cgi/imagedelivery/{hash}/cat%00.png/public",
    ],
)
def test_a_nul_byte_in_an_image_url_is_a_400_with_cf_resized(tenant: Hosted, path: str) -> None:
    response = tenant.http.get(path.format(hash=tenant.account.hash))
    assert response.status_code == 400, response.text
    assert response.headers["cf-resized"] == "err=9424"
    assert "NUL" in response.text


def test_a_nul_byte_in_a_dashboard_sign_in_is_a_400(tenant: Hosted) -> None:
    response = tenant.http.post("/dashboard/session", json={"token": "x\x00"})
    _refused(response)
