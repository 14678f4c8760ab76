"""Content Credentials over HTTP: a camera-signed photo transformed by URL and delivered as a hosted image."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from tests.credentials import Authority, Identity, actions_of, active, capture, has_manifest, read_back
from tests.imaging import gradient, save
from tests.server.conftest import Start, open_tenant

MEDIA = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif", "gif": "image/gif"}
PAYLOAD = {"image/jpeg": b"\xff\xda", "image/png": b"IDAT", "image/webp": b"VP8", "image/avif": b"mdat"}


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture(scope="module")
def camera(authority: Authority) -> Identity:
    return authority.issue("Test Camera")


@pytest.fixture(scope="module")
def cdn(authority: Authority) -> Identity:
    return authority.issue("Enlarger CDN")


@pytest.fixture
def photo(origin_dir: Path, camera: Identity) -> bytes:
    """origin/camera.jpg: a 640×480 photo with the camera's manifest."""
    data = capture(save(gradient(640, 480), "jpeg", Q=90), "image/jpeg", camera)
    (origin_dir / "camera.jpg").write_bytes(data)
    return data


def _signing(tmp_path: Path, authority: Authority, cdn: Identity) -> dict[str, Any]:
    cert, key = cdn.write(tmp_path)
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(authority.pem)
    return {
        "c2pa_preserve": True,
        "c2pa_sign_cert": str(cert),
        "c2pa_sign_key": str(key),
        "c2pa_trust_anchors": str(anchors),
    }


@pytest.fixture
def signing(start: Start, tmp_path: Path, authority: Authority, cdn: Identity, photo: bytes) -> httpx.Client:
    return start(**_signing(tmp_path, authority, cdn))


def _check_chain(body: bytes, media_type: str, authority: Authority, camera_label: str) -> dict[str, Any]:
    store = read_back(body, media_type, authority.pem)
    assert store["validation_state"] == "Trusted", store.get("validation_results")
    assert len(store["manifests"]) == 2
    mine = active(store)
    assert mine["signature_info"]["common_name"] == "Enlarger CDN"
    [parent] = mine["ingredients"]
    assert parent["relationship"] == "parentOf" and parent["active_manifest"] == camera_label
    assert store["manifests"][camera_label]["signature_info"]["common_name"] == "Test Camera"
    return {action["action"]: action for action in actions_of(mine)}


@pytest.mark.parametrize("fmt", list(MEDIA))
def test_resize_to_each_format_carries_the_chain(
    signing: httpx.Client, authority: Authority, photo: bytes, fmt: str
) -> None:
    camera_label = read_back(photo, "image/jpeg", authority.pem)["active_manifest"]
    response = signing.get(f"/cdn-cgi/image/width=320,format={fmt}/camera.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == MEDIA[fmt]
    found = _check_chain(response.content, MEDIA[fmt], authority, camera_label)
    assert found["c2pa.resized"]["parameters"]["originalDimensions"] == {"width": 640, "height": 480}
    assert found["c2pa.resized"]["parameters"]["newDimensions"] == {"width": 320, "height": 240}
    assert ("c2pa.converted" in found) == (fmt != "jpeg")
    decoded = pyvips.Image.new_from_buffer(response.content, "")
    assert (decoded.width, decoded.height) == (320, 240)


def test_crop_is_described(signing: httpx.Client, authority: Authority, photo: bytes) -> None:
    camera_label = read_back(photo, "image/jpeg", authority.pem)["active_manifest"]
    response = signing.get("/cdn-cgi/image/width=200,height=200,fit=crop,format=webp/camera.jpg")
    found = _check_chain(response.content, "image/webp", authority, camera_label)
    assert set(found) == {"c2pa.opened", "c2pa.resized", "c2pa.cropped", "c2pa.converted"}
    assert found["c2pa.resized"]["parameters"]["newDimensions"] == {"width": 267, "height": 200}
    assert pyvips.Image.new_from_buffer(response.content, "").width == 200


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_a_changed_byte_fails_validation(signing: httpx.Client, authority: Authority, photo: bytes, fmt: str) -> None:
    body = signing.get(f"/cdn-cgi/image/width=320,format={fmt}/camera.jpg").content
    tampered = bytearray(body)
    tampered[body.rindex(PAYLOAD[MEDIA[fmt]]) + 40] ^= 0x55
    store = read_back(bytes(tampered), MEDIA[fmt], authority.pem)
    assert store["validation_state"] == "Invalid"


def test_metadata_none_and_no_identity_serve_no_manifest(
    start: Start, signing: httpx.Client, tmp_path: Path, photo: bytes
) -> None:
    stripped = signing.get("/cdn-cgi/image/width=320,metadata=none/camera.jpg")
    assert stripped.status_code == 200 and not has_manifest(stripped.content, "image/jpeg")
    unsigned = start(data_dir=tmp_path / "other", c2pa_preserve=True)
    response = unsigned.get("/cdn-cgi/image/width=320/camera.jpg")
    assert response.status_code == 200 and not has_manifest(response.content, "image/jpeg")
    assert pyvips.Image.new_from_buffer(response.content, "").width == 320


def test_hits_serve_the_signed_output_and_keys_follow_the_identity(
    start: Start, tmp_path: Path, authority: Authority, cdn: Identity, photo: bytes
) -> None:
    data_dir = tmp_path / "shared-data"
    plain = start(data_dir=data_dir)
    first = plain.get("/cdn-cgi/image/width=320/camera.jpg")
    assert not has_manifest(first.content, "image/jpeg")
    signing = start(data_dir=data_dir, **_signing(tmp_path, authority, cdn))  # same cache directory
    miss = signing.get("/cdn-cgi/image/width=320/camera.jpg")
    assert miss.headers["x-enlarger-cache"] == "MISS" and miss.headers["etag"] != first.headers["etag"]
    assert has_manifest(miss.content, "image/jpeg")
    hit = signing.get("/cdn-cgi/image/width=320/camera.jpg")
    assert hit.headers["x-enlarger-cache"] == "HIT" and hit.content == miss.content


def test_format_json_reports_the_source(signing: httpx.Client, photo: bytes) -> None:
    body = json.loads(signing.get("/cdn-cgi/image/format=json/camera.jpg").content)
    assert body["content_credentials"] == {
        "present": True,
        "validation_state": "Trusted",
        "claim_generators": ["Test Camera 1.0"],
    }


def test_hosted_original_keeps_its_credentials_and_deliveries_are_signed(
    start: Start, tmp_path: Path, authority: Authority, cdn: Identity, photo: bytes
) -> None:
    tenant = open_tenant(start, tmp_path / "hosted", **_signing(tmp_path, authority, cdn))
    with tenant.sdk:
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id="shot", file=("shot.jpg", io.BytesIO(photo), "image/jpeg")
        )
        blob = tenant.http.get(f"{tenant.api}/v1/shot/blob", headers=tenant.auth())
        assert blob.status_code == 200 and blob.content == photo
        public = tenant.http.get(f"/{tenant.account.hash}/shot/public", headers={"Accept": "image/webp,*/*"})
        assert public.status_code == 200 and not has_manifest(public.content, "image/webp")  # its metadata=none
        tenant.sdk.images.v1.variants.create(
            account_id=tenant.account.id,
            id="credited",
            options={"fit": "scale-down", "width": 320, "height": 320, "metadata": "copyright"},
        )
        delivered = tenant.http.get(f"/{tenant.account.hash}/shot/credited", headers={"Accept": "image/webp,*/*"})
    assert delivered.headers["content-type"] == "image/webp"
    camera_label = read_back(photo, "image/jpeg", authority.pem)["active_manifest"]
    found = _check_chain(delivered.content, "image/webp", authority, camera_label)
    assert "c2pa.converted" in found


def test_the_account_config_switches_content_credentials_for_hosted_images(
    start: Start, tmp_path: Path, authority: Authority, cdn: Identity, photo: bytes
) -> None:
    """Cloudflare, hosted-images/preserve-content-credentials.mdx: ``PATCH /images/v1/config
    {"preserve_content_credentials": true}`` keeps them account-wide, each variant's ``metadata``
    deciding (copyright keeps C2PA). The server's own switch is off here: the account's decides."""
    tenant = open_tenant(start, tmp_path / "hosted", **{**_signing(tmp_path, authority, cdn), "c2pa_preserve": False})
    config = f"{tenant.api}/v1/config"
    with tenant.sdk:
        tenant.sdk.images.v1.create(
            account_id=tenant.account.id, id="shot", file=("shot.jpg", io.BytesIO(photo), "image/jpeg")
        )
        tenant.sdk.images.v1.variants.create(
            account_id=tenant.account.id,
            id="credited",
            options={"fit": "scale-down", "width": 320, "height": 320, "metadata": "copyright"},
        )
    accept = {"Accept": "image/webp,*/*"}
    assert tenant.http.get(config, headers=tenant.auth()).json()["result"]["preserve_content_credentials"] is False
    before = tenant.http.get(f"/{tenant.account.hash}/shot/credited", headers=accept)
    assert before.status_code == 200 and not has_manifest(before.content, "image/webp")
    switched = tenant.http.patch(config, headers=tenant.auth(), json={"preserve_content_credentials": True})
    assert switched.status_code == 200 and switched.json()["result"]["preserve_content_credentials"] is True
    after = tenant.http.get(f"/{tenant.account.hash}/shot/credited", headers=accept)
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]  # not the old entry
    camera_label = read_back(photo, "image/jpeg", authority.pem)["active_manifest"]
    assert "c2pa.converted" in _check_chain(after.content, "image/webp", authority, camera_label)
    public = tenant.http.get(f"/{tenant.account.hash}/shot/public", headers=accept)
    assert not has_manifest(public.content, "image/webp")  # the public variant's metadata=none
    refused = tenant.http.patch(config, headers=tenant.auth(), json={"preserve_content_credentials": "yes"})
    assert refused.status_code == 400
    back = tenant.http.patch(config, headers=tenant.auth(), json={"preserve_content_credentials": None})
    assert back.json()["result"]["preserve_content_credentials"] is False  # the server's setting again
