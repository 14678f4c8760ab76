"""The binding's ``images.hosted`` beside the images API on one running service: the same rules,
the same listing, and the same invalidation (review 2, finding 2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from enlarger.binding import Images
from enlarger.catalog.store import Account
from enlarger.errors import RequestError
from enlarger.server.app import create_app
from enlarger.server.hosting_service import HostingService
from enlarger.settings import Settings
from tests.binding.aio import run
from tests.imaging import quadrants, save
from tests.live import serve

PNG = save(quadrants(200, 100), "png")


@dataclass
class Doors:
    """One service, reached through its images API (``http``) and through a binding (``images``)."""

    http: httpx.Client
    images: Images
    account: Account
    token: str
    data_dir: Path

    def api(self, path: str) -> str:
        return f"/client/v4/accounts/{self.account.id}/images{path}"

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cached(self) -> list[str]:
        return sorted(p.name for p in (self.data_dir / "cache").glob("??/*"))


@pytest.fixture
def doors(tmp_path: Path) -> Iterator[Doors]:
    settings = Settings(data_dir=tmp_path / "data", origin=str(tmp_path))
    app = create_app(settings)
    inner: Any = app
    while not hasattr(inner, "state"):  # the Starlette app inside the request context and the access log
        inner = inner.app
    service: HostingService = inner.state.hosting
    account = service.hosting.catalog.create_account("tests")
    _, token = service.hosting.catalog.create_token(account.id)
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        # wired as the server wires its binding: the HostingService is the mutation path
        images = Images(settings, hosting=service.hosting, account_id=account.id, base_url=base, changes=service)
        yield Doors(http, images, account, token, settings.data_dir)


def test_a_custom_id_image_cannot_be_made_private_through_either_door(doors: Doors) -> None:
    """Cloudflare: images with a custom ID cannot require signed URLs — also when edited later."""
    run(doors.images.hosted.upload(PNG, id="logo"))
    api = doors.http.patch(doors.api("/v1/logo"), headers=doors.auth(), json={"requireSignedURLs": True})
    assert api.status_code == 400
    with pytest.raises(RequestError) as caught:
        run(doors.images.hosted.image("logo").update(require_signed_urls=True))
    assert caught.value.status == 400
    assert caught.value.message == api.json()["errors"][0]["message"]
    details = run(doors.images.hosted.image("logo").details())
    assert details is not None and details["requireSignedURLs"] is False  # nothing was changed
    generated = run(doors.images.hosted.upload(PNG))  # a generated id may be made private
    made = run(doors.images.hosted.image(generated["id"]).update(require_signed_urls=True))
    assert made["requireSignedURLs"] is True


def test_metadata_filters_match_the_same_images_through_both_doors(doors: Doors) -> None:
    """``meta.n[eq]=5`` matches the text "5" and the number 5; the binding's ``{"n": 5}`` must too."""
    for image_id, n in (("text", "5"), ("number", 5), ("other", 6), ("float", 5.5)):
        run(doors.images.hosted.upload(PNG, id=image_id, metadata={"n": n}))
    listed = doors.http.get(doors.api("/v2"), headers=doors.auth(), params={"meta.n[eq]": "5"})
    assert listed.status_code == 200, listed.text
    by_api = sorted(i["id"] for i in listed.json()["result"]["images"])
    assert by_api == ["number", "text"]
    for condition in (5, "5", {"eq": 5}):
        by_binding = sorted(i["id"] for i in run(doors.images.hosted.list(metadata={"n": condition}))["images"])
        assert by_binding == by_api
    ranged = run(doors.images.hosted.list(metadata={"n": {"gt": 5}}))["images"]
    assert sorted(i["id"] for i in ranged) == ["float", "other"]  # ranges compare numbers only


def test_binding_edits_and_deletes_purge_cached_outputs(doors: Doors) -> None:
    record = run(doors.images.hosted.upload(PNG, id="photo"))
    url = f"/{doors.account.hash}/{record['id']}/public"
    assert doors.http.get(url).headers["x-enlarger-cache"] == "MISS"
    assert doors.http.get(url).headers["x-enlarger-cache"] == "HIT"
    assert len(doors.cached()) == 1
    run(doors.images.hosted.image("photo").update(metadata={"k": "v"}))
    assert doors.cached() == []  # purged, though this edit changes no pixel
    assert doors.http.get(url).headers["x-enlarger-cache"] == "MISS"
    assert doors.cached()
    assert run(doors.images.hosted.image("photo").delete()) is True
    assert doors.cached() == []
    assert doors.http.get(url).status_code == 404
