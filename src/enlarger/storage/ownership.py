"""Proof that a storage backend holds *this* catalog's originals before anything is deleted from it.

The orphan sweep deletes every blob no row references. Run against the right bucket but the
wrong catalog (a mistyped or forgotten ``database_url`` opens an empty one), that is every
original. So the first sweep of a catalog writes a marker object naming the catalog's id under
the storage prefix, and every sweep first checks it: a marker naming another catalog, or no
marker in a bucket holding originals of accounts the catalog does not know, stops the sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from enlarger.errors import StorageOwnershipError
from enlarger.storage.base import BlobInfo, BlobMissingError, Storage

MARKER_KEY = ".enlarger-catalog"


def owner(storage: Storage) -> str | None:
    """The catalog id the marker names, or None when there is no marker."""
    try:
        data = storage.get(MARKER_KEY)
    except BlobMissingError:
        return None
    try:
        found = json.loads(data)["catalog_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageOwnershipError(
            "the storage's ownership marker is damaged", detail=f"{MARKER_KEY}: {data[:200]!r}"
        ) from exc
    return str(found)


def confirm(storage: Storage, catalog: str, accounts: set[str], blobs: Iterable[BlobInfo]) -> None:
    """Return only if ``storage`` is ``catalog``'s; claims an unmarked one whose originals are all known.

    ``blobs`` are Enlarger-shaped keys (``<account id>/<blob id>``) found in the storage.
    """
    marked = owner(storage)
    if marked == catalog:
        return
    if marked is not None:
        raise StorageOwnershipError(
            f"the storage holds another catalog's originals (catalog {marked}, this one is {catalog}): "
            "check database_url; nothing was deleted"
        )
    unknown = sorted({blob.key.split("/", 1)[0] for blob in blobs} - accounts)
    if unknown:
        raise StorageOwnershipError(
            f"the storage has no ownership marker and holds originals of {len(unknown)} accounts this catalog "
            f"does not know (e.g. {unknown[0]}): check database_url; nothing was deleted"
        )
    storage.put(MARKER_KEY, json.dumps({"catalog_id": catalog}).encode())
