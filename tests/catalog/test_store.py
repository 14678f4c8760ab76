"""The catalog on SQLite and on a real PostgreSQL server: same operations, same answers."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select

from enlarger.catalog import migrate
from enlarger.catalog.filters import ImageFilter, parse_meta_filters
from enlarger.catalog.schema import accounts, images
from enlarger.catalog.store import MAX_VARIANTS, Catalog, Image, Page, Variant, _columns, now, open_engine
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
    assert {"accounts", "api_tokens", "images", "variants", "signing_keys", "direct_uploads", "batch_tokens"} <= tables
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
    catalog.revoke_token(token.id, account.id)
    assert catalog.token_account(secret) is None
    with pytest.raises(NotFoundError):
        catalog.revoke_token(token.id, account.id)


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


def _tagged(account_id: str, image_id: str, meta: dict[str, object], creator: str | None = None) -> Image:
    return replace(_image(account_id, image_id), meta=meta, creator=creator)


def _ids(page: Page) -> list[str]:
    return [image.id for image in page.images]


def _filtered(catalog: Catalog, account_id: str, *query: tuple[str, str], creator: str | None = None) -> list[str]:
    where = ImageFilter(creator, parse_meta_filters(query))
    return sorted(_ids(catalog.after(account_id, None, 100, descending=False, where=where)))


@pytest.fixture
def tagged(catalog: Catalog) -> tuple[Catalog, str]:
    """Five images whose metadata mixes strings, numbers, booleans and nesting (typed JSON values)."""
    account = catalog.create_account()
    rows: dict[str, dict[str, object]] = {
        "a": {"status": "active", "priority": 5, "enabled": True, "region": "us-east", "deep": {"x": {"y": 1}}},
        "b": {"status": "deleted", "priority": 1, "enabled": False, "region": "eu-west", "deep": {"x": {"y": 2}}},
        "c": {"status": "active", "priority": "5", "region": "us-west"},  # "5" is a string here
        "d": {"status": "pending", "priority": 10.5, "enabled": "true"},
        "e": {},
    }
    for image_id, meta in rows.items():
        catalog.add_image(_tagged(account.id, image_id, meta))
    return catalog, account.id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("meta.status[eq]", "active")], ["a", "c"]),
        ([("meta.status[eq:string]", "active")], ["a", "c"]),
        ([("meta.priority[eq:number]", "5")], ["a"]),  # the string "5" is not the number 5
        ([("meta.priority[eq:string]", "5")], ["c"]),
        ([("meta.priority[eq]", "5")], ["a", "c"]),  # untyped: either
        ([("meta.enabled[eq:boolean]", "true")], ["a"]),  # the string "true" is not the boolean
        ([("meta.enabled[eq:boolean]", "false")], ["b"]),
        ([("meta.priority[gt:number]", "1")], ["a", "d"]),  # strings never compare as numbers
        ([("meta.priority[gte]", "1")], ["a", "b", "d"]),
        ([("meta.priority[lt:number]", "5")], ["b"]),
        ([("meta.priority[lte:number]", "10.5")], ["a", "b", "d"]),
        ([("meta.region[in]", "us-east|us-west|eu-west")], ["a", "b", "c"]),
        ([("meta.priority[in:number]", "1|10.5")], ["b", "d"]),
        ([("meta.deep.x.y[eq:number]", "2")], ["b"]),
        ([("meta.status[eq]", "active"), ("meta.priority[gte:number]", "1")], ["a"]),  # ANDed
        ([("meta.priority[eq:number]", "5"), ("meta.priority[lte:number]", "3")], []),  # contradictory
        ([("meta.missing[eq]", "x")], []),
    ],
)
def test_metadata_filters_on_both_databases(
    tagged: tuple[Catalog, str], query: list[tuple[str, str]], expected: list[str]
) -> None:
    """List images V2 (SDK ``images.v2.list``): typed eq, numeric ranges, pipe lists, nesting, AND."""
    catalog, account_id = tagged
    assert _filtered(catalog, account_id, *query) == expected


def test_metadata_filters_use_the_gin_index_on_postgresql(tagged: tuple[Catalog, str]) -> None:
    """Equality and ``in`` filters are JSONB containment, which the ``jsonb_path_ops`` GIN index answers."""
    catalog, account_id = tagged
    if catalog.engine.dialect.name != "postgresql":
        pytest.skip("the GIN index is PostgreSQL's")
    crowd = [_columns(_tagged(account_id, f"n{n}", {"region": f"r{n}"})) for n in range(3000)]
    with catalog.engine.begin() as c:  # one account full of non-matching rows: only the metadata is selective
        c.execute(insert(images), crowd)
        c.exec_driver_sql("ANALYZE images")
    filters = parse_meta_filters([("meta.region[in]", "us-east|us-west"), ("meta.deep.x.y[eq:number]", "1")])
    query = select(images).where(*catalog._listed(account_id, ImageFilter(meta=filters)))
    compiled = query.compile(catalog.engine)
    params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in compiled.params.items()}  # cast ::JSONB
    with catalog.engine.connect() as c:
        c.exec_driver_sql("SET enable_seqscan = off")  # a handful of rows: make the planner show what it can use
        plan = "\n".join(row[0] for row in c.exec_driver_sql("EXPLAIN " + str(compiled), params))
    assert "ix_images_meta" in plan
    with catalog.engine.connect() as c:
        kind = c.exec_driver_sql(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'images' AND column_name = 'meta'"
        ).scalar()
    assert kind == "jsonb"


def test_lists_skip_drafts_and_filter_by_creator(catalog: Catalog) -> None:
    """Drafts are not listed (direct-creator-upload.mdx); ``creator=""`` lists images without one (SDK)."""
    account = catalog.create_account()
    catalog.add_image(_tagged(account.id, "by-ada", {}, creator="ada"))
    catalog.add_image(_tagged(account.id, "by-bob", {}, creator="bob"))
    catalog.add_image(_tagged(account.id, "nobody", {}))
    catalog.add_slot(replace(_image(account.id, "draft"), draft=True, blob_key=None), now() + timedelta(minutes=5))
    assert _filtered(catalog, account.id) == ["by-ada", "by-bob", "nobody"]
    assert _filtered(catalog, account.id, creator="ada") == ["by-ada"]
    assert _filtered(catalog, account.id, creator="") == ["nobody"]
    page = catalog.page(account.id, 1, 10, ImageFilter(creator="bob"))
    assert _ids(page) == ["by-bob"] and page.total == 1
    assert catalog.page(account.id, 1, 10).total == 3  # the draft counts for the quota, not the list
    assert catalog.count_images(account.id) == 4


def test_variants_are_limited_to_one_hundred(catalog: Catalog) -> None:
    """create-variants.mdx: an account has at most 100 variants (``public`` included)."""
    account = catalog.create_account()
    for n in range(MAX_VARIANTS - 1):
        catalog.add_variant(account.id, Variant(f"v{n}", {"width": 10}, False))
    with pytest.raises(QuotaExceededError) as caught:
        catalog.add_variant(account.id, Variant("onemore", {"width": 10}, False, 3600))
    assert "at most 100 variants" in caught.value.message
    assert len(catalog.variants(account.id)) == MAX_VARIANTS


def test_account_settings_and_variant_browser_ttl(catalog: Catalog) -> None:
    account = catalog.create_account()
    assert account.browser_ttl is None and not account.flexible_variants
    changed = catalog.update_account(account.id, {"browser_ttl": 3600, "flexible_variants": True})
    assert (changed.browser_ttl, changed.flexible_variants) == (3600, True)
    catalog.add_variant(account.id, Variant("avatar", {"width": 100}, False, 86400))
    assert catalog.variant(account.id, "avatar") == Variant("avatar", {"width": 100}, False, 86400)


def test_batch_tokens_name_their_account_until_they_expire(catalog: Catalog) -> None:
    account = catalog.create_account()
    secret, expires = catalog.create_batch_token(account.id, timedelta(hours=1))
    assert expires > now() + timedelta(minutes=59)
    assert catalog.batch_token_account(secret) == account.id
    assert catalog.batch_token_account(secret + "x") is None
    stale, _ = catalog.create_batch_token(account.id, timedelta(seconds=-1))
    assert catalog.batch_token_account(stale) is None
    assert catalog.expire_batch_tokens() == 1
    assert catalog.batch_token_account(secret) == account.id


def test_migration_from_0001_keeps_images_and_their_metadata(catalog_url: str) -> None:
    """Upgrading a catalog made before revision 0004 converts metadata in place (JSONB on PostgreSQL)."""
    engine = open_engine(catalog_url)
    with engine.begin() as c:
        command.upgrade(migrate.alembic_config(c), "0001")
        c.execute(insert(accounts).values(id="a" * 32, hash="h", name="", flexible_variants=False, created=now()))
        row = _columns(_tagged("a" * 32, "old", {"k": {"n": 3}}))
        del row["placeholders"]  # a column of 0005
        c.execute(insert(images).values(**row))
    engine.dispose()
    catalog = Catalog(catalog_url)
    assert catalog.image("a" * 32, "old").meta == {"k": {"n": 3}}
    assert _filtered(catalog, "a" * 32, ("meta.k.n[eq:number]", "3")) == ["old"]
    assert catalog.account("a" * 32).browser_ttl is None
    catalog.close()
    with open_engine(catalog_url).begin() as c:  # and back down: the data survives the round trip
        command.downgrade(migrate.alembic_config(c), "0001")
        assert "batch_tokens" not in inspect(c).get_table_names()
    assert Catalog(catalog_url).image("a" * 32, "old").meta == {"k": {"n": 3}}


def test_a_token_is_revoked_only_by_its_own_account(catalog: Catalog) -> None:
    owner, other = catalog.create_account(), catalog.create_account()
    token, secret = catalog.create_token(owner.id, "ci")
    with pytest.raises(NotFoundError):
        catalog.revoke_token(token.id, other.id)  # another account's session
    assert catalog.token_account(secret) == owner.id  # still valid
    catalog.revoke_token(token.id, owner.id)
    assert catalog.token_account(secret) is None
    second, second_secret = catalog.create_token(owner.id, "ops")
    catalog.revoke_token(second.id, None)  # the operator's CLI: any account
    assert catalog.token_account(second_secret) is None


def test_accounts_and_tokens_are_listed_oldest_first_and_only_their_own(catalog: Catalog) -> None:
    first, second = catalog.create_account("first"), catalog.create_account("second")
    assert [a.id for a in catalog.accounts()][-2:] == [first.id, second.id]
    assert catalog.account(second.id) == second and catalog.account_by_hash(first.hash) == first
    # hosting.md: the `public` variant a new account starts with does not bypass signed URLs
    assert catalog.variant(first.id, "public").never_require_signed is False
    ci, _ = catalog.create_token(first.id, "ci")
    ops, ops_secret = catalog.create_token(first.id, "ops")
    theirs, _ = catalog.create_token(second.id, "theirs")
    assert [(t.id, t.name, t.revoked) for t in catalog.tokens(first.id)] == [(ci.id, "ci", None), (ops.id, "ops", None)]
    assert [t.id for t in catalog.tokens(second.id)] == [theirs.id]
    catalog.revoke_token(ops.id, first.id)
    listed = catalog.tokens(first.id)
    assert [t.id for t in listed] == [ci.id, ops.id]  # a revoked token stays listed, with when
    assert listed[0].revoked is None and listed[1].revoked is not None
    assert catalog.token_account(ops_secret) is None


def test_unknown_accounts_are_not_found(catalog: Catalog) -> None:
    catalog.create_account()
    for call in (
        lambda: catalog.account("0" * 32),
        lambda: catalog.account_by_hash("no-such-hash"),
        lambda: catalog.create_token("0" * 32, "orphan"),
        lambda: catalog.update_account("0" * 32, {"flexible_variants": True}),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert catalog.tokens("0" * 32) == []
