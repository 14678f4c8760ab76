"""``images.hosted`` on a real catalog and local storage; a hosted image drawn as an overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from enlarger.binding import Images, ImagesError
from enlarger.catalog.store import Catalog
from enlarger.errors import RequestError
from enlarger.hosting import Hosting
from enlarger.security.signing import verify
from enlarger.settings import Settings
from enlarger.storage.local import LocalStorage
from tests.binding.aio import run
from tests.imaging import decode, near, pixel, save, solid

RED = save(solid(20, 10, (255, 0, 0)), "png")
BLUE = save(solid(200, 100, (0, 0, 255)), "png")


@pytest.fixture
def images(tmp_path: Path) -> Images:
    settings = Settings(data_dir=tmp_path, public_url="https://img.example")
    hosting = Hosting(Catalog(settings.catalog_url), LocalStorage(tmp_path / "originals"), settings)
    account = hosting.catalog.create_account()
    return Images(settings, hosting=hosting, account_id=account.id)


def test_upload_details_bytes_update_delete(images: Images) -> None:
    hosted = images.hosted
    record = run(hosted.upload(RED, id="logo", filename="logo.png", metadata={"kind": "mark"}, creator="ann"))
    assert record["id"] == "logo" and record["meta"] == {"kind": "mark"} and record["creator"] == "ann"
    assert record["variants"][0].startswith("https://img.example/") and record["variants"][0].endswith("/logo/public")
    assert run(hosted.image("logo").bytes()) == RED
    details: dict[str, Any] | None = run(hosted.image("logo").details())
    assert details is not None and details["filename"] == "logo.png"
    updated = run(hosted.image("logo").update(metadata={"kind": "other"}, creator="bea"))
    assert updated["meta"] == {"kind": "other"} and updated["creator"] == "bea"
    assert run(hosted.image("logo").delete()) is True
    assert run(hosted.image("logo").details()) is None and run(hosted.image("logo").bytes()) is None
    assert run(hosted.image("logo").delete()) is False


def test_list_pages_with_a_cursor_and_filters(images: Images) -> None:
    hosted = images.hosted
    for n in range(5):
        run(hosted.upload(RED, id=f"i{n}", creator="ann" if n % 2 else "bob", metadata={"n": n, "tag": f"t{n}"}))
    first = run(hosted.list(limit=2, sort_order="asc"))
    assert [i["id"] for i in first["images"]] == ["i0", "i1"] and first["listComplete"] is False
    rest = run(hosted.list(limit=10, sort_order="asc", cursor=first["cursor"]))
    assert [i["id"] for i in rest["images"]] == ["i2", "i3", "i4"] and rest["listComplete"] is True
    assert [i["id"] for i in run(hosted.list(creator="ann", sort_order="asc"))["images"]] == ["i1", "i3"]
    gte = run(hosted.list(metadata={"n": {"gte": 3}}, sort_order="asc"))
    assert [i["id"] for i in gte["images"]] == ["i3", "i4"]
    listed = run(hosted.list(metadata={"tag": {"in": ["t0", "t4"]}}))["images"]
    assert [i["id"] for i in listed] == ["i4", "i0"]  # newest first by default
    with pytest.raises(RequestError):
        run(hosted.list(metadata={"n": {"like": 1}}))


def test_direct_upload_reserves_a_draft(images: Images) -> None:
    slot = run(images.hosted.create_direct_upload(id="later", expires_in=600))
    assert slot["id"] == "later" and slot["uploadURL"].startswith("https://img.example/upload/")
    assert run(images.hosted.list())["images"] == []  # drafts are not listed
    with pytest.raises(RequestError):
        run(images.hosted.create_direct_upload(expires_in=30))


def test_signed_url_verifies_with_the_account_key(images: Images) -> None:
    record = run(images.hosted.upload(RED, require_signed_urls=True))  # custom ids cannot be private
    url = run(images.hosted.image(record["id"]).signed_url(variant="public", expires_in=3600))
    parts = urlsplit(url)
    assert parts.netloc == "img.example" and "exp=" in parts.query
    assert images._hosting is not None and images._account_id is not None
    keys = [k.value for k in images._hosting.catalog.keys(images._account_id)]
    verify([parts.path], parts.query, keys)  # raises SignatureError if it does not verify


def test_draw_a_hosted_image_by_id(images: Images) -> None:
    run(images.hosted.upload(RED, id="marks/red"))
    result = run(images.input(BLUE).draw("marks/red", top=0, left=0).output("image/png"))
    image = decode(result.data)
    assert near(pixel(image, 5, 5), (255, 0, 0), 1) and near(pixel(image, 25, 5), (0, 0, 255), 1)


def test_drawing_a_missing_hosted_image_is_not_found(images: Images) -> None:
    with pytest.raises(ImagesError) as caught:
        run(images.input(BLUE).draw("nope").output("image/png"))
    assert caught.value.status == 404 and "nope" in caught.value.message


def test_a_custom_id_cannot_require_signed_urls(images: Images) -> None:
    """upload-images.mdx: "Images with custom ID paths cannot be made private"."""
    with pytest.raises(RequestError, match="custom ID cannot require signed URLs") as caught:
        run(images.hosted.upload(RED, id="private", require_signed_urls=True))
    assert caught.value.status == 400


def test_a_custom_id_cannot_be_made_private_by_an_update(images: Images) -> None:
    """The same rule on edits as on uploads (the images API's PATCH refuses it too)."""
    run(images.hosted.upload(RED, id="public-logo"))
    with pytest.raises(RequestError, match="custom ID cannot require signed URLs") as caught:
        run(images.hosted.image("public-logo").update(require_signed_urls=True))
    assert caught.value.status == 400
    details = run(images.hosted.image("public-logo").details())
    assert details is not None and details["requireSignedURLs"] is False


def test_edits_are_checked_like_the_apis(images: Images) -> None:
    run(images.hosted.upload(RED, id="logo"))
    with pytest.raises(RequestError, match="metadata must not exceed"):
        run(images.hosted.image("logo").update(metadata={"k": "x" * 2000}))
    with pytest.raises(RequestError, match="creator must be printable"):
        run(images.hosted.image("logo").update(creator="a\nb"))
    with pytest.raises(RequestError, match="creator must be printable"):
        run(images.hosted.upload(RED, creator="a\nb"))


def test_hosted_needs_an_account(tmp_path: Path) -> None:
    with pytest.raises(ImagesError):
        _ = Images(Settings(data_dir=tmp_path)).hosted
