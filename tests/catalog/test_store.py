"""The catalog on SQLite and on a real PostgreSQL server: same operations, same answers."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from enlarger.catalog.store import Catalog, Image, Variant, now
from enlarger.errors import ConflictError, GoneError, NotFoundError, QuotaExceededError, RequestError


def _image(account_id: str, image_id: str, n: int = 0) -> Image:
    return Image(
        account_id=account_id, id=image_id, filename=f"{image_id}.jpg", creator=None, uploaded=now(),
        require_signed=False, meta={"n": n}, draft=False, size=100 + n, content_type="image/jpeg",
        width=10, height=20, content_hash=hashlib.sha256(image_id.encode()).hexdigest(), blob_key=f"{account_id}/{n}",
    )  # fmt: skip


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    return Catalog(catalog_url)


def test_migrations_create_every_table_and_are_idempotent(catalog_url: str) -> None:
    first = Catalog(catalog_url)
    tables = set(inspect(first.engine).get_table_names())
    assert {"accounts", "api_tokens", "images", "variants", "signing_keys", "direct_uploads"} <= tables
    assert "alembic_version" in tables
    first.close()
    Catalog(catalog_url).close()  # a second start upgrades nothing and fails nothing


def test_account_has_public_variant_and_default_key(catalog: Catalog) -> None:
    account = catalog.create_account("shop")
    assert len(account.id) == 32 and len(account.hash) == 22
    assert catalog.account_by_hash(account.hash) == account
    assert [v.id for v in catalog.variants(account.id)] == ["public"]
    keys = catalog.keys(account.id)
    assert [k.name for k in keys] == ["default"] and len(keys[0].value) == 64


def test_tokens_are_stored_hashed_and_revocable(catalog: Catalog) -> None:
    account = catalog.create_account()
    token, secret = catalog.create_token(account.id, "ci")
    assert catalog.token_account(secret) == account.id
    assert catalog.token_account(secret + "x") is None
    with catalog.engine.connect() as c:
        stored = [row.token_hash for row in c.exec_driver_sql("SELECT token_hash FROM api_tokens")]
    assert secret not in stored and hashlib.sha256(secret.encode()).hexdigest() in stored
    catalog.revoke_token(token.id)
    assert catalog.token_account(secret) is None
    with pytest.raises(NotFoundError):
        catalog.revoke_token(token.id)


def test_images_unique_per_account_and_ordered_pages(catalog: Catalog) -> None:
    a, b = catalog.create_account(), catalog.create_account()
    for n in range(25):
        catalog.add_image(_image(a.id, f"i{n:02d}", n))
    catalog.add_image(_image(b.id, "i00"))  # the same id in another account is fine
    with pytest.raises(ConflictError):
        catalog.add_image(_image(a.id, "i00"))
    assert catalog.count_images(a.id) == 25
    page2 = catalog.page(a.id, 2, 10)
    assert [i.id for i in page2.images] == [f"i{n:02d}" for n in range(10, 20)]
    assert page2.total == 25
    collected, token = [], None
    while True:
        page = catalog.after(a.id, token, 10, descending=True)
        collected += [i.id for i in page.images]
        token = page.continuation_token
        if token is None:
            break
    assert collected == [f"i{n:02d}" for n in reversed(range(25))]
    for bad in ("garbage!", "c2VxOjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"):  # not a token; "seq:" + a huge number
        with pytest.raises(RequestError):
            catalog.after(a.id, bad, 10, descending=False)


def test_image_round_trip_update_and_delete(catalog: Catalog) -> None:
    account = catalog.create_account()
    stored = catalog.add_image(_image(account.id, "x/y.jpg", 3))
    assert stored.meta == {"n": 3} and stored.uploaded.tzinfo is not None
    assert replace(stored, seq=0, uploaded=stored.uploaded) == replace(
        _image(account.id, "x/y.jpg", 3), uploaded=stored.uploaded
    )
    changed = catalog.update_image(account.id, "x/y.jpg", {"meta": {"k": "v"}, "require_signed": True})
    assert changed.meta == {"k": "v"} and changed.require_signed
    assert catalog.delete_image(account.id, "x/y.jpg").blob_key == f"{account.id}/3"
    with pytest.raises(NotFoundError):
        catalog.image(account.id, "x/y.jpg")


def test_direct_upload_slot_is_one_time_and_expires(catalog: Catalog) -> None:
    account = catalog.create_account()
    draft = replace(_image(account.id, "d1"), draft=True, blob_key=None)
    secret = catalog.add_slot(draft, now() + timedelta(minutes=30))
    with pytest.raises(NotFoundError):
        catalog.image(account.id, "d1")  # drafts are not delivered
    assert catalog.image(account.id, "d1", drafts=True).draft
    slot = catalog.slot(secret)
    assert (slot.account_id, slot.image_id) == (account.id, "d1")
    filled = catalog.redeem(secret, replace(_image(account.id, "d1", 7), draft=False))
    assert not filled.draft and filled.size == 107
    with pytest.raises(NotFoundError):
        catalog.redeem(secret, _image(account.id, "d1"))

    expired = catalog.add_slot(
        replace(_image(account.id, "d2"), draft=True, blob_key=None), now() - timedelta(seconds=1)
    )
    with pytest.raises(GoneError):
        catalog.slot(expired)
    with pytest.raises(NotFoundError):
        catalog.image(account.id, "d2", drafts=True)  # the never-filled draft went with its slot


def test_variants_and_keys(catalog: Catalog) -> None:
    account = catalog.create_account()
    thumb = Variant("thumb", {"fit": "cover", "width": 100, "height": 100}, True)
    catalog.add_variant(account.id, thumb)
    with pytest.raises(ConflictError):
        catalog.add_variant(account.id, thumb)
    catalog.update_variant(account.id, replace(thumb, never_require_signed=False))
    assert catalog.variant(account.id, "thumb").never_require_signed is False
    catalog.delete_variant(account.id, "thumb")
    with pytest.raises(NotFoundError):
        catalog.variant(account.id, "thumb")

    old = catalog.keys(account.id)[0].value
    catalog.put_key(account.id, "default")
    assert catalog.keys(account.id)[0].value != old
    assert [k.name for k in catalog.delete_key(account.id, "default")] == ["default"]  # never left keyless
    with pytest.raises(NotFoundError):
        catalog.delete_key(account.id, "missing")


def test_quota_is_checked_inside_the_insert_transaction(catalog: Catalog) -> None:
    account = catalog.create_account()
    catalog.add_image(_image(account.id, "a", 1), quota=2)
    catalog.add_image(_image(account.id, "b", 2), quota=2)
    with pytest.raises(QuotaExceededError):
        catalog.add_image(_image(account.id, "c", 3), quota=2)
    with pytest.raises(QuotaExceededError):
        catalog.add_slot(replace(_image(account.id, "d"), draft=True, blob_key=None), now(), quota=2)
    assert catalog.count_images(account.id) == 2


def test_concurrent_key_rotations_leave_one_key(catalog: Catalog) -> None:
    account = catalog.create_account()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: catalog.put_key(account.id, "default"), range(12)))
    assert [k.name for k in catalog.keys(account.id)] == ["default"]
