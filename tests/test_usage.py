"""Usage accounting: known requests in, exact counts out — on SQLite and on PostgreSQL.

The catalog tests drive the 30-day window with explicit days; the HTTP tests deliver hosted
images through a running server and read the totals back from the stats API and /metrics.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from cloudflare import Cloudflare
from sqlalchemy import create_engine, insert

from enlarger.catalog import migrate
from enlarger.catalog.schema import accounts, images
from enlarger.catalog.store import Catalog, Image, now
from enlarger.catalog.usage_store import UsageStore
from enlarger.errors import TransformationQuotaError
from enlarger.options import parse_options
from enlarger.server.app import create_app
from enlarger.settings import Settings
from enlarger.usage import transformation_key
from tests.backends import fresh_database
from tests.imaging import gradient, save
from tests.live import serve, wait_for
from tests.server.conftest import Start

DAY0 = date(2026, 1, 1)


def _key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _image(account_id: str, image_id: str, size: int, *, draft: bool = False) -> Image:
    return Image(
        account_id, image_id, "f.jpg", None, now(), False, {}, draft, size, "image/jpeg", 1, 1, "h",
        None if draft else f"{account_id}/{image_id}",
    )  # fmt: skip


@pytest.fixture
def usage(catalog: Catalog) -> UsageStore:
    return UsageStore(catalog)


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    opened = Catalog(catalog_url)
    yield opened
    opened.close()


def test_stored_totals_follow_uploads_redeemed_drafts_and_deletes(catalog: Catalog, usage: UsageStore) -> None:
    account = catalog.create_account().id
    other = catalog.create_account().id
    catalog.add_image(_image(account, "a", 1000))
    catalog.add_image(_image(account, "b", 250))
    catalog.add_image(_image(other, "x", 7))
    secret = catalog.add_slot(_image(account, "d", 0, draft=True), now() + timedelta(minutes=5))
    today = now().date()
    assert usage.stored(account, today) == (2, 1250)  # a draft is not stored yet
    catalog.redeem(secret, _image(account, "d", 40))
    assert usage.stored(account, today) == (3, 1290)
    catalog.delete_image(account, "a")
    assert usage.stored(account, today) == (2, 290)
    draft_secret = catalog.add_slot(_image(account, "e", 0, draft=True), now() + timedelta(minutes=5))
    assert draft_secret
    catalog.delete_image(account, "e")  # deleting a draft changes nothing
    assert usage.stored(account, today) == (2, 290)
    assert usage.stored(other, today) == (1, 7)
    assert usage.stored(account, today - timedelta(days=1)) == (0, 0)


def test_migration_counts_images_that_existed_before_it(catalog_url: str) -> None:
    engine = create_engine(catalog_url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
        connection.execute(
            insert(accounts).values(id="a" * 32, hash="h", name="", flexible_variants=False, created=now())
        )
        for n, (size, draft) in enumerate([(100, False), (23, False), (0, True)]):
            row = _image("a" * 32, f"i{n}", size, draft=draft).__dict__
            old = {k: v for k, v in row.items() if k not in ("seq", "placeholders")}  # placeholders: 0005
            connection.execute(insert(images).values(**old))
    engine.dispose()
    catalog = Catalog(catalog_url)  # upgrades to head
    try:
        assert UsageStore(catalog).stored("a" * 32, now().date()) == (2, 123)
    finally:
        catalog.close()


def test_unique_transformations_slide_over_thirty_days(catalog: Catalog, usage: UsageStore) -> None:
    account = catalog.create_account().id
    record = usage.record_transformation
    assert record(account, _key("k1"), DAY0, 0) == 1
    assert record(account, _key("k2"), DAY0, 0) == 2
    assert record(account, _key("k1"), DAY0, 0) is None  # already counted today
    assert record(account, _key("k1"), DAY0 + timedelta(days=20), 0) == 2  # in the window: not new
    assert usage.unique_transformations(account, DAY0 + timedelta(days=29)) == 2
    # day 30: k2 (last day 0) has left the window, k1 (day 20) has not
    assert usage.unique_transformations(account, DAY0 + timedelta(days=30)) == 1
    # day 45: k1's day-20 request is still inside [16, 45] although it was first seen on day 0
    assert usage.unique_transformations(account, DAY0 + timedelta(days=45)) == 1
    assert usage.unique_transformations(account, DAY0 + timedelta(days=50)) == 0
    assert record(account, _key("k2"), DAY0 + timedelta(days=35), 0) == 2  # back after the window: new again
    history = usage.usage(account, DAY0, DAY0 + timedelta(days=35))
    assert [d.transformations for d in history if d.transformations] == [2, 1, 1]
    assert history[0].unique_30d == 2 and history[20].unique_30d == 2 and history[35].unique_30d == 2
    assert history[1].unique_30d is None  # a quiet day's figure is not known afterwards


def test_quota_refuses_new_transformations_but_not_counted_ones(catalog: Catalog, usage: UsageStore) -> None:
    account = catalog.create_account().id
    record = usage.record_transformation
    assert record(account, _key("k1"), DAY0, 2) == 1
    assert record(account, _key("k2"), DAY0, 2) == 2
    with pytest.raises(TransformationQuotaError) as refused:
        record(account, _key("k3"), DAY0, 2)
    assert refused.value.status == 429 and refused.value.code == 9422
    assert usage.unique_transformations(account, DAY0) == 2  # the refused one is not counted
    assert record(account, _key("k1"), DAY0 + timedelta(days=1), 2) == 2  # counted before: still served
    usage.set_transformation_quota(account, 3)  # the account's own quota overrides the setting
    assert usage.transformation_quota(account) == 3
    assert record(account, _key("k3"), DAY0 + timedelta(days=1), 2) == 3
    usage.set_transformation_quota(account, 0)  # 0: unlimited
    assert record(account, _key("k4"), DAY0 + timedelta(days=1), 2) == 4
    usage.set_transformation_quota(account, None)
    assert usage.transformation_quota(account) is None
    assert record(account, _key("k5"), DAY0 + timedelta(days=40), 2) == 1  # the window emptied


def test_deliveries_add_up_and_old_keys_are_pruned(catalog: Catalog, usage: UsageStore) -> None:
    account = catalog.create_account().id
    usage.add_deliveries({(account, DAY0): (3, 300)})
    usage.add_deliveries({(account, DAY0): (2, 50), (account, DAY0 + timedelta(days=1)): (1, 9)})
    days = usage.usage(account, DAY0, DAY0 + timedelta(days=1))
    assert [(d.delivered_images, d.delivered_bytes) for d in days] == [(5, 350), (1, 9)]
    usage.record_transformation(account, _key("old"), DAY0, 0)
    usage.record_transformation(account, _key("recent"), DAY0 + timedelta(days=5), 0)
    assert usage.prune_usage_keys(DAY0 + timedelta(days=31)) == 1
    assert usage.unique_transformations(account, DAY0 + timedelta(days=31)) == 1


def test_key_counts_format_auto_once_and_each_width() -> None:
    auto = parse_options("width=300,format=auto")
    assert transformation_key("img", auto) == transformation_key("img", parse_options("format=auto,w=300"))
    assert transformation_key("img", auto) != transformation_key("img", parse_options("width=301,format=auto"))
    assert transformation_key("img", auto) != transformation_key("other", auto)


# --- through a running server
@pytest.fixture
def start() -> Iterator[Start]:
    """``start(**settings)`` runs a service and returns a client bound to it."""
    with ExitStack() as stack:

        def run(**values: Any) -> httpx.Client:
            base = stack.enter_context(serve(create_app(Settings(**values))))
            return stack.enter_context(httpx.Client(base_url=base, timeout=30))

        yield run


def _serve(start: Start, catalog_url: str, tmp_path: Path, **settings: Any) -> tuple[httpx.Client, str, str, str]:
    catalog = Catalog(catalog_url)
    account = catalog.create_account()
    catalog.set_flexible_variants(account.id, True)
    _, token = catalog.create_token(account.id)
    catalog.close()
    http = start(data_dir=tmp_path / "data", database_url=catalog_url, **settings)
    return http, account.id, account.hash, token


def _upload(http: httpx.Client, account_id: str, token: str, image_id: str, data: bytes) -> None:
    base = str(http.base_url).rstrip("/") + "/client/v4"
    with Cloudflare(api_token=token, base_url=base, max_retries=0) as sdk:
        sdk.images.v1.create(account_id=account_id, id=image_id, file=(f"{image_id}.jpg", io.BytesIO(data)))


def _stats(http: httpx.Client, account_id: str, token: str) -> dict[str, Any]:
    response = http.get(
        f"/client/v4/accounts/{account_id}/images/v1/stats", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    result: dict[str, Any] = response.json()["result"]
    return result


def test_deliveries_and_transformations_are_counted_exactly(start: Start, catalog_url: str, tmp_path: Path) -> None:
    http, account_id, account_hash, token = _serve(start, catalog_url, tmp_path, metrics_per_account=True)
    one, two = save(gradient(320, 240), "jpeg", Q=90), save(gradient(200, 100), "jpeg", Q=80)
    _upload(http, account_id, token, "one", one)
    _upload(http, account_id, token, "two", two)
    sent = 0
    delivered = 0

    def get(path: str, **headers: str) -> httpx.Response:
        nonlocal sent, delivered
        response = http.get(f"/{account_hash}/{path}", headers=headers)
        assert response.status_code in (200, 304), response.text
        sent += len(response.content)
        delivered += 1
        return response

    # format=auto: three formats negotiated, one transformation
    first = get("one/public", Accept="image/avif")
    get("one/public", Accept="image/webp")
    get("one/public", Accept="image/jpeg")
    get("one/public", **{"If-None-Match": first.headers["etag"], "Accept": "image/avif"})  # a 304 is a delivery
    assert http.head(f"/{account_hash}/one/public").status_code == 200  # HEAD is not
    # width=auto: each width the hints choose (a breakpoint: 120 → 320, 800 → 960) is its own transformation
    get("two/width=auto,fit=scale-down", **{"Sec-CH-Width": "120"})
    get("two/width=auto,fit=scale-down", **{"Sec-CH-Width": "800"})
    get("two/width=auto,fit=scale-down", **{"Sec-CH-Width": "800"})
    get("two/public")
    assert http.get(f"/{account_hash}/missing/public").status_code == 404  # nothing delivered

    stats = _stats(http, account_id, token)
    assert stats["count"]["current"] == 2
    assert stats["stored"] == {"images": 2, "bytes": len(one) + len(two)}
    assert stats["delivered_today"] == {"images": delivered, "bytes": sent}
    assert delivered == 8
    assert stats["transformations"] == {"unique_30d": 4, "allowed": None, "window_days": 30}
    metrics = http.get("/metrics").text
    assert f'enlarger_usage_delivered_images_total{{account="{account_id}"}} 8.0' in metrics
    assert f'enlarger_usage_unique_transformations{{account="{account_id}"}} 4.0' in metrics
    assert f'enlarger_usage_stored_images{{account="{account_id}"}} 2.0' in metrics


def test_quota_answers_429_for_new_transformations_only(start: Start, catalog_url: str, tmp_path: Path) -> None:
    settings = {"transformation_quota": 2, "metrics_per_account": True}
    http, account_id, account_hash, token = _serve(start, catalog_url, tmp_path, **settings)
    _upload(http, account_id, token, "one", save(gradient(320, 240), "jpeg", Q=90))
    assert http.get(f"/{account_hash}/one/public").status_code == 200
    assert http.get(f"/{account_hash}/one/w=50").status_code == 200
    refused = http.get(f"/{account_hash}/one/w=60")
    assert refused.status_code == 429
    assert refused.headers["cf-resized"] == "err=9422"
    assert "unique transformations" in refused.text
    again = http.get(f"/{account_hash}/one/w=50", headers={"Accept": "image/webp"})
    assert again.status_code == 200  # counted already: keeps serving
    stats = _stats(http, account_id, token)
    assert stats["transformations"]["unique_30d"] == 2
    assert stats["transformations"]["allowed"] == 2
    assert f'enlarger_usage_refused_transformations_total{{account="{account_id}"}} 1.0' in http.get("/metrics").text


def test_an_idle_replica_flushes_its_delivery_counts_on_a_timer(start: Start, postgres: str, tmp_path: Path) -> None:
    """Issue 25.6: an idle replica kept its delivery counts in memory indefinitely (flushes only rode on
    later deliveries). Now a timer writes them every ``usage_flush_seconds``, with no request to carry it:
    the test reads the catalog directly (the stats API would flush first) and sends nothing meanwhile."""
    catalog_url = fresh_database(postgres)
    http, account_id, account_hash, token = _serve(start, catalog_url, tmp_path, usage_flush_seconds=0.2)
    _upload(http, account_id, token, "idle", save(gradient(64, 48), "jpeg", Q=90))
    sizes = [len(http.get(f"/{account_hash}/idle/public").content) for _ in range(3)]
    catalog = Catalog(catalog_url)

    def written() -> tuple[int, int]:
        day = UsageStore(catalog).usage(account_id, date.today() - timedelta(days=1), date.today() + timedelta(days=1))
        return sum(d.delivered_images for d in day), sum(d.delivered_bytes for d in day)

    wait_for(lambda: written() == (3, sum(sizes)), timeout=30)
    catalog.close()
