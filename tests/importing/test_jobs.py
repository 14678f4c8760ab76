"""Job claiming on SQLite and on a real PostgreSQL: no object is claimed twice, leases lapse and
are taken over, and a runner that lost its lease cannot commit."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

import pytest

from enlarger.catalog.store import Catalog, Image, now
from enlarger.errors import RequestError
from enlarger.importing.jobs import DONE, FAILED, ImportJob, ImportOptions, JobStore, LeaseLostError, Listed

LEASE = 30.0


def _job(store: JobStore, account_id: str, n: int, owner: str = "lead", **options: object) -> ImportJob:
    job = store.create(account_id, "test", {"kind": "test"}, ImportOptions(**options), started_by="tests", runner="cli")  # type: ignore[arg-type]
    assert store.claim_job(job.id, owner, LEASE)
    entries = [Listed(f"k{i:05d}.png", 10, f"k{i:05d}.png") for i in range(n)]
    store.add_listed(store.job(job.id), owner, entries, cursor="end", last=True, max_bytes=1000)
    return store.job(job.id)


def _image(account_id: str, image_id: str) -> Image:
    return Image(
        account_id, image_id, image_id, None, now(), False, {}, False, 10, "image/png", 1, 1,
        hashlib.sha256(image_id.encode()).hexdigest(), f"{account_id}/{uuid.uuid4().hex}",
    )  # fmt: skip


@pytest.fixture
def store(catalog_url: str) -> JobStore:
    return JobStore(Catalog(catalog_url))


def test_concurrent_claimers_never_share_an_object(store: JobStore, catalog_url: str) -> None:
    account = store.catalog.create_account()
    job = _job(store, account.id, 300)
    claimed: dict[str, list[int]] = {}
    replicas = [JobStore(Catalog(catalog_url)) for _ in range(4)]  # own engines and connections each

    stop = threading.Event()

    def claimer(name: str, own: JobStore) -> None:
        mine = claimed.setdefault(name, [])
        # bounded: a claim that kept handing out the same objects would otherwise loop for ever
        while not stop.is_set() and len(mine) <= 300 and (batch := own.claim(job.id, name, LEASE, limit=7)):
            mine.extend(item.seq for item in batch)

    # daemon threads, stopped in ``finally``: a failing claim fails this test instead of keeping
    # the test process alive after it
    threads = [threading.Thread(target=claimer, args=(f"r{n}", r), daemon=True) for n, r in enumerate(replicas)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a claimer never ran out of work"
    finally:
        stop.set()
    every = [seq for seqs in claimed.values() for seq in seqs]
    assert len(every) == 300 and len(set(every)) == 300


def test_a_lapsed_lease_is_taken_over_and_the_old_claimant_cannot_commit(store: JobStore) -> None:
    account = store.catalog.create_account()
    job = _job(store, account.id, 2)
    [first] = store.claim(job.id, "dead", 0.2)
    assert store.claim(job.id, "live", LEASE, limit=5)[0].seq != first.seq  # the live lease is respected
    time.sleep(0.3)
    [again] = store.claim(job.id, "live", LEASE)
    assert again.seq == first.seq and again.attempts == 2
    with pytest.raises(LeaseLostError):
        store.commit_image(first, "dead", _image(account.id, first.image_id), overwrite=False, quota=None)
    assert not store.exists(account.id, first.image_id)  # rolled back with the refused mark
    state, replaced = store.commit_image(again, "live", _image(account.id, again.image_id), overwrite=False, quota=None)
    assert (state, replaced) == (DONE, None)
    assert store.exists(account.id, again.image_id)
    assert store.counts(job.id).done == 1


def test_only_one_runner_leads_a_job(store: JobStore) -> None:
    account = store.catalog.create_account()
    job = store.create(account.id, "s", {"kind": "test"}, ImportOptions(), started_by="t", runner="server")
    first = store.claim_next_job("a", "server", LEASE)
    assert first is not None and first.id == job.id
    assert store.claim_next_job("b", "server", LEASE) is None
    assert not store.claim_job(job.id, "b", LEASE)
    with pytest.raises(LeaseLostError):  # a runner that does not lead cannot record listings
        store.add_listed(job, "b", [Listed("x.png", 1, "x.png")], cursor="1", last=True, max_bytes=10)
    store.release_job(job.id, "a")
    assert store.claim_job(job.id, "b", LEASE)


def test_listing_rows_carry_problems_and_fixed_target_ids(store: JobStore) -> None:
    account = store.catalog.create_account()
    job = store.create(account.id, "s", {"kind": "test"}, ImportOptions(id_prefix="in/"), started_by="t", runner="cli")
    assert store.claim_job(job.id, "lead", LEASE)
    entries = [
        Listed("ok.png", 10, "ok.png"),
        Listed("big.png", 5000, "big.png"),
        Listed("bad?id.png", 10, "bad?id.png"),
        Listed("no-id", 10, None),
    ]
    store.add_listed(job, "lead", entries, cursor="4", last=True, max_bytes=1000)
    rows = {row.key: row for row in store.log(job.id)}
    assert rows["ok.png"].image_id == "in/ok.png" and rows["ok.png"].state == "pending"
    assert rows["big.png"].state == FAILED and "5,000 bytes" in (rows["big.png"].reason or "")
    assert rows["bad?id.png"].state == FAILED and "invalid image id" in (rows["bad?id.png"].reason or "")
    assert uuid.UUID(rows["no-id"].image_id)  # no source id: a UUID fixed now, reused by every re-run
    listed = store.job(job.id)
    assert (listed.total, listed.total_bytes, listed.listed, listed.cursor) == (4, 5030, True, "4")


def test_cancel_stops_claims(store: JobStore) -> None:
    account = store.catalog.create_account()
    job = _job(store, account.id, 5)
    assert len(store.claim(job.id, "r", LEASE)) == 1
    assert store.cancel(job.id, account.id).state == "cancelled"
    assert store.claim(job.id, "r", LEASE, limit=10) == []
    assert store.counts(job.id).pending == 5


def test_overwrite_replaces_the_row_and_hands_back_the_old_blob(store: JobStore) -> None:
    account = store.catalog.create_account()
    old = store.catalog.add_image(_image(account.id, "k00000.png"))
    job = _job(store, account.id, 1, overwrite=True)
    [item] = store.claim(job.id, "lead", LEASE)
    new = _image(account.id, item.image_id)
    assert store.commit_image(item, "lead", new, overwrite=True, quota=1) == (DONE, old.blob_key)
    assert store.catalog.image(account.id, "k00000.png").blob_key == new.blob_key


def test_options_are_checked() -> None:
    with pytest.raises(RequestError, match="concurrency"):
        ImportOptions(concurrency=0)
    with pytest.raises(RequestError, match="end in '/'"):
        ImportOptions(id_prefix="shop")
