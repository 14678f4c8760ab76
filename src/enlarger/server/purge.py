"""Which cached outputs belong to which image or variant, so that changes purge them.

The output cache is keyed by content, not by name; this index remembers, per tag (an image or a
variant of an account), the cache keys produced for it, as empty marker files so it survives
restarts like the cache itself. Markers of entries the cache evicted on its own linger until
their tag is purged; purging a key that is already gone is harmless.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


class Discarding(Protocol):
    def discard(self, key: str) -> None: ...


def image_tag(account_id: str, image_id: str) -> str:
    return f"image:{account_id}:{image_id}"


def variant_tag(account_id: str, variant_id: str) -> str:
    return f"variant:{account_id}:{variant_id}"


_SAFE = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_CDN_KINDS = {"image": "img", "variant": "var"}


def _token(value: str) -> str:
    """A header-safe stand-in for an id: itself when plain, else a short digest (spaces, ``/``, non-ASCII)."""
    return value if _SAFE.fullmatch(value) else hashlib.sha256(value.encode()).hexdigest()[:16]


def cdn_tags(tags: Iterable[str], *, accounts: bool = True) -> list[str]:
    """The ``Cache-Tag``/``Surrogate-Key`` names of internal ``tags``, each followed by its account's.

    ``image:<account>:<id>`` becomes ``img-<account>-<digest>`` (the first 16 hex digits of the
    SHA-256 of the image id: ids may hold anything, header tokens may not), ``variant:...`` becomes
    ``var-<account>-<digest>``, and every account adds ``acct-<account>``; a CDN purges by these.
    Other tags (a front door's own) are not named; ``accounts=False`` leaves out the ``acct-`` names
    (a purge names what changed, never the whole account).
    """
    named: list[str] = []
    for tag in tags:
        parts = tag.split(":", 2)
        if len(parts) != 3 or parts[0] not in _CDN_KINDS:
            continue  # another front door's own tag: not a hosted image's
        kind, account_id, item = parts
        account = _token(account_id)
        digest = hashlib.sha256(item.encode()).hexdigest()[:16]
        for name in (f"{_CDN_KINDS[kind]}-{account}-{digest}", *((f"acct-{account}",) if accounts else ())):
            if name not in named:
                named.append(name)
    return named


class PurgeIndex:
    def __init__(self, root: Path, cache: Discarding) -> None:
        self._root = root
        self._cache = cache
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, tag: str) -> Path:
        return self._root / hashlib.sha256(tag.encode()).hexdigest()

    def record(self, tags: Iterable[str], key: str) -> None:
        for tag in tags:
            directory = self._dir(tag)
            directory.mkdir(exist_ok=True)
            (directory / key).touch()

    def purge(self, tag: str) -> int:
        """Discard every output recorded under ``tag``; returns how many there were."""
        directory = self._dir(tag)
        if not directory.is_dir():
            return 0
        keys = os.listdir(directory)
        for key in keys:
            self._cache.discard(key)
            (directory / key).unlink(missing_ok=True)
        return len(keys)
