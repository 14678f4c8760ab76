"""server/purge_log.py: a replica applies the purges it missed while down, and old entries are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from enlarger.cache import DiskCache, Entry
from enlarger.catalog.schema import purge_log
from enlarger.catalog.store import Catalog
from enlarger.server.purge import PurgeIndex, image_tag
from enlarger.server.purge_log import PurgeFollower


def _replica(catalog: Catalog, data_dir: Path) -> tuple[DiskCache, PurgeIndex, PurgeFollower]:
    cache = DiskCache(data_dir / "cache", 1 << 20)
    index = PurgeIndex(data_dir / "cache-tags", cache)
    return cache, index, PurgeFollower(catalog, index, data_dir / "cache-tags.applied", 1.0, 3600)


def test_a_restarted_replica_applies_the_purges_it_missed(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.log_purge((image_tag("acct", "before"),))  # older than this replica: never applied
    cache, index, follower = _replica(catalog, tmp_path / "b")
    assert follower.step() == 0  # starts at the newest entry
    for key, image in (("k1", "gone"), ("k2", "kept")):
        cache.put(key, Entry(b"bytes of " + key.encode(), "image/png", "png", 1, 1))
        index.record((image_tag("acct", image),), key)
    # the replica is down while another logs a purge; a new follower on the same data dir catches up
    catalog.log_purge((image_tag("acct", "gone"),))
    cache, index, follower = _replica(catalog, tmp_path / "b")
    assert follower.step() == 1
    assert cache.get("k1") is None
    assert cache.get("k2") is not None
    assert follower.step() == 0
    catalog.close()


def test_entries_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    first = catalog.log_purge((image_tag("acct", "a"),))
    catalog.log_purge((image_tag("acct", "b"),))
    assert catalog.prune_purges(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert [tags for _, tags, _ in catalog.purges_after(0)] == [(image_tag("acct", "a"),), (image_tag("acct", "b"),)]
    assert catalog.prune_purges(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert catalog.purges_after(0) == [] and catalog.last_purge() == 0
    assert first >= 1
    catalog.close()


def _log_with_id(catalog: Catalog, entry_id: int, tag: str) -> None:
    """A purge entry under a chosen id (as a jumped sequence or a commit arriving late leaves them)."""
    with catalog.engine.begin() as c:
        c.execute(insert(purge_log).values(id=entry_id, tags=[tag], at=datetime.now(UTC)))


def test_a_purge_past_a_gap_in_ids_is_applied_at_once(tmp_path: Path, catalog_url: str) -> None:
    """After a PostgreSQL crash its sequences jump ahead (they are logged 32 values at a time), so the
    first purge after it came after a gap in ids; it was taken for a commit in flight and applied only
    10 s later (the live fleet test measured 10.2 s). Entries past a gap are applied at once; the gap
    is still watched, and an entry committed into it later is applied too."""
    catalog = Catalog(catalog_url)
    last = catalog.log_purge((image_tag("acct", "before"),))
    cache, index, follower = _replica(catalog, tmp_path / "b")
    assert follower.step() == 0
    for key, image in (("k1", "after-gap"), ("k2", "in-gap"), ("k3", "kept")):
        cache.put(key, Entry(b"bytes of " + key.encode(), "image/png", "png", 1, 1))
        index.record((image_tag("acct", image),), key)
    _log_with_id(catalog, last + 33, image_tag("acct", "after-gap"))
    assert follower.step() == 1
    assert cache.get("k1") is None
    _log_with_id(catalog, last + 1, image_tag("acct", "in-gap"))  # a slower commit, with an earlier id
    assert follower.step() == 1
    assert cache.get("k2") is None
    assert cache.get("k3") is not None
    assert follower.step() == 0  # nothing applied twice
    catalog.close()
