"""Cloudflare's official JS SDK (npm ``cloudflare``) against Enlarger, every Images call, the
returned objects checked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import Service
from tests.clients.npm import node_client


@pytest.fixture(scope="module")
def calls(service: Service) -> dict[str, Any]:
    done: dict[str, Any] = node_client(
        "sdk.mjs", service.base, service.token, service.account_id, str(service.files / "photo.jpg")
    )
    return done


def test_uploads_and_records(calls: dict[str, Any], service: Service) -> None:
    created, custom = calls["created"], calls["custom"]
    assert len(created["id"]) == 36 and created["filename"] == "cat.jpg" and created["meta"] == {"n": "1"}
    assert created["variants"] == [f"{service.base}/{service.account_hash}/{created['id']}/public"]
    assert custom["id"] == "shop/red shoe.jpg"
    assert custom["variants"][0].endswith("/shop/red%20shoe.jpg/public")
    assert calls["got"]["id"] == created["id"]
    assert calls["edited"]["meta"] == {"n": "2"} and calls["edited"]["creator"] == "ada"
    assert calls["blobLength"] == (service.files / "photo.jpg").stat().st_size


def test_lists(calls: dict[str, Any], service: Service) -> None:
    listed = calls["listed"]
    ids = {image["id"] for image in (listed["images"] if isinstance(listed, dict) else listed)}
    assert {calls["created"]["id"], "shop/red shoe.jpg", service.image_id} <= ids
    v2 = calls["listedV2"]
    assert {calls["created"]["id"], service.image_id} <= {image["id"] for image in v2["images"]}


def test_variants_keys_stats(calls: dict[str, Any]) -> None:
    assert calls["variantCreated"]["variant"]["options"]["width"] == 64
    assert calls["variantGot"]["variant"]["id"] == "thumb"
    assert calls["variantEdited"]["variant"]["options"] == {
        "fit": "cover",
        "width": 80,
        "height": 60,
        "metadata": "none",
    }
    assert "thumb" in calls["variants"]["variants"] and "public" in calls["variants"]["variants"]
    assert "extra" in {key["name"] for key in calls["keys"]["keys"]}
    assert "extra" not in {key["name"] for key in calls["keyDeleted"]["keys"]}
    assert calls["stats"]["count"]["current"] >= 3 and calls["stats"]["count"]["allowed"] > 0


def test_direct_upload_and_delete(calls: dict[str, Any], service: Service) -> None:
    assert calls["direct"]["uploadURL"].startswith(service.base + "/")
    assert calls["directUploadStatus"] == 200
    assert calls["directGot"]["meta"] == {"via": "widget"} and not calls["directGot"].get("draft")
    assert calls["missing"]["status"] == 404  # deleted: the SDK's get now raises NotFoundError
