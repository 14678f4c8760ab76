"""server/purge_log.py: a replica applies the purges it missed while down, and old entries are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from enlarger.cache import DiskCache, Entry
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
